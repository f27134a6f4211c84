import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';

export type SigningAlg = 'RS256' | 'ES256';
const ALGS: readonly SigningAlg[] = ['RS256', 'ES256'];

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  /** ISO time the key was made; the newest key of each algorithm signs */
  created: string;
  /** the private JWK */
  jwk: JWK;
}

/** A key that signs the provider's cookies (Keygrip): the active one signs, every one verifies. */
export interface CookieKey {
  /** `cookie-` and the first 16 hex digits of the key's SHA-256: shown and retired by it, never the key */
  id: string;
  key: string;
  /** ISO time it was made; the epoch for the key `poort init` wrote (in force from the start) */
  created: string;
}

/** How secrets.json holds a cookie key: the first one as a bare string, rotated ones with their creation time. */
type StoredCookieKey = string | { key: string; created: string };

function cookieKeyOf(stored: StoredCookieKey): CookieKey {
  const { key, created } =
    typeof stored === 'string' ? { key: stored, created: new Date(0).toISOString() } : stored;
  return { id: `cookie-${crypto.createHash('sha256').update(key).digest('hex').slice(0, 16)}`, key, created };
}

export interface Secrets {
  /** 32 bytes for AES-256-GCM of secrets at rest (client secrets) */
  encryptionKey: Buffer;
  /** key of the HMAC that makes CSRF tokens */
  csrfKey: Buffer;
}

/** secrets.json as stored */
interface RawSecrets {
  cookie_keys: StoredCookieKey[];
  encryption_key: string;
  csrf_key: string;
}

const SIGNING_PREFIX = 'signing-';
const RETIRED_PREFIX = 'retired-';
const SECRETS_FILE = 'secrets.json';
const LOCK_FILE = '.creating.lock';

/** Older than this, a creation lock was left by a process that died while it held it. */
const STALE_LOCK_MS = 10_000;
const LOCK_WAIT_MS = 30_000;

function writePrivate(file: string, content: string): void {
  // not the pid alone: nodes in containers sharing the folder may all be pid 1
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
  fs.renameSync(tmp, file);
}

/**
 * Runs `fn` while holding the keys folder's creation lock (a file made with O_EXCL), so that of several processes
 * sharing the folder (nodes started together) one at a time creates what is missing; the others find it made. A
 * lock older than STALE_LOCK_MS was left by a process that died holding it and is taken over.
 */
export async function whileCreatingKeys<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = path.join(dir, LOCK_FILE);
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.writeFileSync(lock, `${process.pid}\n`, { mode: 0o600, flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let age: number;
    try {
      age = Date.now() - fs.statSync(lock).mtimeMs;
    } catch {
      continue; // released between the two calls
    }
    if (age > STALE_LOCK_MS) fs.rmSync(lock, { force: true });
    else if (Date.now() > deadline)
      throw new KeyStoreError(`${lock}: another process has been creating keys for too long`);
    else await new Promise((resolve) => setTimeout(resolve, 50));
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

async function generateSigningKey(alg: SigningAlg): Promise<SigningKey> {
  const { privateKey } =
    alg === 'RS256'
      ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
      : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as JWK;
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  return { kid, alg, created: new Date().toISOString(), jwk: { ...jwk, kid, alg, use: 'sig' } };
}

/** A JWK without its private members (RSA's d, p, q, dp, dq, qi; EC's d). */
function publicPart(jwk: JWK): JWK {
  const {
    d: _d,
    p: _p,
    q: _q,
    dp: _dp,
    dq: _dq,
    qi: _qi,
    ...publicJwk
  } = jwk as JWK & Record<string, unknown>;
  return publicJwk;
}

/**
 * Signing keys and secret material in a folder (keys/), each in its own 0600 file.
 *
 * A new key is published at once but signs only after `activationDelay` seconds: relying parties cache the JWKS
 * (openid-client refetches for an unknown kid only once its copy is a minute old), so a token signed with a key
 * they have not seen yet would be refused. Until then the previous key of that algorithm keeps signing.
 */
export class KeyStore {
  constructor(
    readonly dir: string,
    readonly activationDelay = 0,
  ) {}

  /** Creates the folder, one key per algorithm and the secret material where they are missing. */
  async ensure(): Promise<{ created: string[] }> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (this.complete()) return { created: [] };
    // Several nodes sharing the folder start together: one of them creates what is missing, the others then use it.
    return whileCreatingKeys(this.dir, () => this.createMissing());
  }

  private complete(): boolean {
    const existing = this.signingKeys();
    return (
      ALGS.every((alg) => existing.some((k) => k.alg === alg)) &&
      fs.existsSync(path.join(this.dir, SECRETS_FILE))
    );
  }

  private async createMissing(): Promise<{ created: string[] }> {
    const created: string[] = [];
    const existing = this.signingKeys();
    for (const alg of ALGS) {
      if (!existing.some((k) => k.alg === alg)) created.push((await this.add(alg)).kid);
    }
    const secretsFile = path.join(this.dir, SECRETS_FILE);
    if (!fs.existsSync(secretsFile)) {
      const secrets = {
        cookie_keys: [crypto.randomBytes(32).toString('base64url')],
        encryption_key: crypto.randomBytes(32).toString('base64url'),
        csrf_key: crypto.randomBytes(32).toString('base64url'),
      };
      writePrivate(secretsFile, `${JSON.stringify(secrets, null, 2)}\n`);
      created.push(SECRETS_FILE);
    }
    return { created };
  }

  private async add(alg: SigningAlg): Promise<SigningKey> {
    const key = await generateSigningKey(alg);
    writePrivate(
      path.join(this.dir, `${SIGNING_PREFIX}${key.kid}.json`),
      `${JSON.stringify(key, null, 2)}\n`,
    );
    return key;
  }

  /** Every signing key, newest first within each algorithm. */
  signingKeys(): SigningKey[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const keys = names
      .filter((n) => n.startsWith(SIGNING_PREFIX) && n.endsWith('.json'))
      .flatMap((n) => {
        const file = path.join(this.dir, n);
        try {
          return [JSON.parse(fs.readFileSync(file, 'utf8')) as SigningKey];
        } catch (err) {
          // retired by another process between the listing and the read
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
          throw new Error(`${file}: not a Poort signing key: ${(err as Error).message}`, { cause: err });
        }
      });
    return keys.sort((a, b) =>
      a.created < b.created ? 1 : a.created > b.created ? -1 : a.kid.localeCompare(b.kid),
    );
  }

  /** Adds a new key for each algorithm; the new keys sign from now on, the old ones stay published. */
  async rotate(): Promise<SigningKey[]> {
    const added: SigningKey[] = [];
    for (const alg of ALGS) added.push(await this.add(alg));
    return added;
  }

  /**
   * The key that signs for an algorithm now: the newest one published for at least the activation delay, or,
   * when none is that old (a fresh install), the oldest.
   */
  activeKey(
    alg: SigningAlg,
    keys: SigningKey[] = this.signingKeys(),
    now = Date.now(),
  ): SigningKey | undefined {
    const ofAlg = keys.filter((k) => k.alg === alg);
    const cutoff = now - this.activationDelay * 1000;
    return ofAlg.find((k) => Date.parse(k.created) <= cutoff) ?? ofAlg[ofAlg.length - 1];
  }

  /** Every key for the JWKS, the active key of each algorithm first (oidc-provider signs with the first match). */
  publishedKeys(now = Date.now()): SigningKey[] {
    const keys = this.signingKeys();
    const active = ALGS.map((alg) => this.activeKey(alg, keys, now)).filter(
      (k): k is SigningKey => k !== undefined,
    );
    return [...active, ...keys.filter((k) => !active.includes(k))];
  }

  /** Removes a key from signing and from the JWKS. The key that signs now cannot be retired. */
  retire(kid: string): SigningKey {
    const keys = this.signingKeys();
    const key = keys.find((k) => k.kid === kid);
    if (!key) throw new KeyStoreError(`no signing key with kid ${kid}`);
    if (this.activeKey(key.alg, keys)?.kid === kid) {
      throw new KeyStoreError(
        `${kid} is the current ${key.alg} signing key; run "poort keys rotate" and retire it once the new key signs`,
      );
    }
    // The public half stays, so that what the key signed (audit checkpoints, archives) can still be verified.
    const publicJwk = publicPart(key.jwk);
    writePrivate(
      path.join(this.dir, `${RETIRED_PREFIX}${kid}.json`),
      `${JSON.stringify({ ...key, jwk: publicJwk }, null, 2)}\n`,
    );
    fs.unlinkSync(path.join(this.dir, `${SIGNING_PREFIX}${kid}.json`));
    return key;
  }

  /** The public JWK of a current or retired key, to verify what it signed. */
  verificationKey(kid: string): JWK | undefined {
    const current = this.signingKeys().find((k) => k.kid === kid);
    if (current) {
      return publicPart(current.jwk);
    }
    try {
      return (
        JSON.parse(fs.readFileSync(path.join(this.dir, `${RETIRED_PREFIX}${kid}.json`), 'utf8')) as SigningKey
      ).jwk;
    } catch {
      return undefined;
    }
  }

  /** The key that signs now for an algorithm. */
  currentKey(alg: SigningAlg): SigningKey {
    const key = this.activeKey(alg);
    if (!key) throw new KeyStoreError(`no ${alg} signing key in ${this.dir}`);
    return key;
  }

  private readSecrets(): RawSecrets {
    return JSON.parse(fs.readFileSync(path.join(this.dir, SECRETS_FILE), 'utf8')) as RawSecrets;
  }

  secrets(): Secrets {
    const raw = this.readSecrets();
    return {
      encryptionKey: Buffer.from(raw.encryption_key, 'base64url'),
      csrfKey: Buffer.from(raw.csrf_key, 'base64url'),
    };
  }

  /**
   * The cookie keys in the order the provider takes them: the active one first (it signs), then the others (they
   * verify). As with signing keys, a new cookie key signs only after the activation delay, so that every node
   * sharing the folder knows it before it meets a cookie signed with it.
   */
  cookieKeys(now = Date.now()): CookieKey[] {
    const keys = this.readSecrets().cookie_keys.map(cookieKeyOf);
    const cutoff = now - this.activationDelay * 1000;
    const byAge = [...keys].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
    const active = byAge.find((k) => Date.parse(k.created) <= cutoff) ?? byAge[byAge.length - 1]!;
    return [active, ...byAge.filter((k) => k !== active)];
  }

  /** Adds a cookie key: it verifies at once and signs after the activation delay; the old ones keep verifying. */
  async rotateCookieKey(): Promise<CookieKey> {
    const stored = { key: crypto.randomBytes(32).toString('base64url'), created: new Date().toISOString() };
    await whileCreatingKeys(this.dir, async () => {
      const raw = this.readSecrets();
      this.writeSecrets({ ...raw, cookie_keys: [...raw.cookie_keys, stored] });
    });
    return cookieKeyOf(stored);
  }

  /**
   * Removes a cookie key: cookies it signed no longer verify, so their sessions end (after a leak, that is the
   * point). The key that signs now cannot be retired, unless `withdraw` takes back a rotation that could not be
   * recorded.
   */
  async retireCookieKey(id: string, { withdraw = false } = {}): Promise<CookieKey> {
    return whileCreatingKeys(this.dir, async () => {
      const raw = this.readSecrets();
      const keys = raw.cookie_keys.map(cookieKeyOf);
      const index = keys.findIndex((k) => k.id === id);
      if (index < 0) throw new KeyStoreError(`no cookie key ${id}`);
      if (!withdraw && this.cookieKeys()[0]!.id === id) {
        throw new KeyStoreError(
          `${id} is the current cookie key; run "poort keys rotate" and retire it once the new key signs`,
        );
      }
      this.writeSecrets({ ...raw, cookie_keys: raw.cookie_keys.filter((_, i) => i !== index) });
      return keys[index]!;
    });
  }

  private writeSecrets(raw: RawSecrets): void {
    writePrivate(path.join(this.dir, SECRETS_FILE), `${JSON.stringify(raw, null, 2)}\n`);
  }

  /**
   * A fingerprint of the published keys, the cookie keys and which of them sign, to notice rotation by another
   * process.
   */
  version(now = Date.now()): string {
    try {
      return [...this.publishedKeys(now).map((k) => k.kid), ...this.cookieKeys(now).map((k) => k.id)].join(
        ',',
      );
    } catch {
      return '';
    }
  }
}

export class KeyStoreError extends Error {
  override readonly name = 'KeyStoreError';
}
