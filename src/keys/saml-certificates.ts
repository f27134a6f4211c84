import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { whileCreatingKeys } from './keystore.js';

/** A SAML signing key pair: RSA 2048 with a self-signed X.509 certificate, as SAML metadata publishes it. */
export interface SamlCertificate {
  /** base64url SHA-256 of the certificate (DER): the id `poort keys` shows */
  id: string;
  /** ISO time the certificate was made; the newest one active for the activation delay signs */
  created: string;
  /** PEM */
  certificate: string;
  /** PKCS#8 PEM */
  privateKey: string;
}

const PREFIX = 'saml-';
const KEY_SUFFIX = '.key';
const CERT_SUFFIX = '.crt';
/** Long enough never to expire under a service provider that checks; rotation is what replaces a certificate. */
const VALID_YEARS = 10;

function writePrivate(file: string, content: string): void {
  // random, not the pid: containers sharing a mounted keys folder all run as pid 1
  const tmp = `${file}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
  fs.renameSync(tmp, file);
}

/** The certificate's SHA-256 over its DER, base64url: stable, and the same form as a JWK thumbprint. */
export function certificateId(pem: string): string {
  return crypto.createHash('sha256').update(new crypto.X509Certificate(pem).raw).digest('base64url');
}

/** The base64 body of a PEM certificate, as it stands in `<ds:X509Certificate>`. */
export function certificateBody(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

/** A fresh key pair and a self-signed certificate for it, made by @peculiar/x509 over Node's WebCrypto. */
async function generate(commonName: string): Promise<Omit<SamlCertificate, 'id'>> {
  // @peculiar/x509 resolves its algorithm providers with tsyringe, which needs the Reflect metadata polyfill first.
  await import('reflect-metadata');
  const x509 = await import('@peculiar/x509');
  const subtle = crypto.webcrypto.subtle;
  const algorithm = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 2048,
  };
  const keys = await subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const now = new Date();
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALID_YEARS);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: crypto
        .randomBytes(16)
        .toString('hex')
        .replace(/^[89a-f]/, '7'),
      name: `CN=${commonName.replace(/[,+="\\<>;#]/g, ' ').slice(0, 60) || 'Poort SAML'}`,
      notBefore: new Date(now.getTime() - 60_000),
      notAfter,
      signingAlgorithm: algorithm,
      keys,
      extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
    },
    crypto.webcrypto as unknown as Crypto,
  );
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', keys.privateKey));
  const privateKey = crypto.createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  return {
    created: now.toISOString(),
    certificate: certificate.toString('pem'),
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/**
 * SAML signing certificates in the keys folder, beside the JWKS keys and rotated with them: each as
 * `saml-<id>.key` and `saml-<id>.crt`, both 0600. Like the JWKS keys, a new certificate is published in the
 * metadata at once and signs only after the activation delay, so that service providers can fetch it first.
 */
export class SamlCertificates {
  constructor(
    readonly dir: string,
    readonly activationDelay = 0,
    private readonly commonName = 'Poort SAML',
  ) {}

  /** Makes the first certificate where there is none. */
  async ensure(): Promise<{ created: string[] }> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    if (this.list().length > 0) return { created: [] };
    // Nodes sharing the folder start together: one of them makes the first certificate, the others then use it.
    return whileCreatingKeys(this.dir, async () =>
      this.list().length > 0 ? { created: [] } : { created: [(await this.add()).id] },
    );
  }

  /** Adds a certificate: published now, signing once the activation delay has passed. */
  async add(): Promise<SamlCertificate> {
    const made = await generate(this.commonName);
    const id = certificateId(made.certificate);
    // The key first: a certificate is listed only once its key is there.
    writePrivate(path.join(this.dir, `${PREFIX}${id}${KEY_SUFFIX}`), made.privateKey);
    writePrivate(
      path.join(this.dir, `${PREFIX}${id}${CERT_SUFFIX}`),
      `${made.certificate.trim()}\n# created ${made.created}\n`,
    );
    return { id, ...made };
  }

  /** Every certificate with its key, newest first. */
  list(): SamlCertificate[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      return [];
    }
    const found = names
      .filter((n) => n.startsWith(PREFIX) && n.endsWith(CERT_SUFFIX))
      .flatMap((n): SamlCertificate[] => {
        const id = n.slice(PREFIX.length, -CERT_SUFFIX.length);
        try {
          const text = fs.readFileSync(path.join(this.dir, n), 'utf8');
          const privateKey = fs.readFileSync(path.join(this.dir, `${PREFIX}${id}${KEY_SUFFIX}`), 'utf8');
          const created = /# created (\S+)/.exec(text)?.[1] ?? new Date(0).toISOString();
          const certificate = text.replace(/# created .*\n?/, '').trim();
          return [{ id, created, certificate: `${certificate}\n`, privateKey }];
        } catch (err) {
          // retired by another process between the listing and the read
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
          throw new Error(
            `${path.join(this.dir, n)}: not a Poort SAML certificate: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
      });
    return found.sort((a, b) =>
      a.created < b.created ? 1 : a.created > b.created ? -1 : a.id.localeCompare(b.id),
    );
  }

  /** The certificate that signs now: the newest one published for the activation delay, else the oldest. */
  active(certificates: SamlCertificate[] = this.list(), now = Date.now()): SamlCertificate | undefined {
    const cutoff = now - this.activationDelay * 1000;
    return certificates.find((c) => Date.parse(c.created) <= cutoff) ?? certificates[certificates.length - 1];
  }

  /** For the metadata: the active certificate first, then the others. */
  published(now = Date.now()): SamlCertificate[] {
    const all = this.list();
    const active = this.active(all, now);
    return active ? [active, ...all.filter((c) => c !== active)] : all;
  }

  /** Removes a certificate from signing and from the metadata; the one that signs now cannot be retired. */
  retire(id: string): SamlCertificate {
    const all = this.list();
    const found = all.find((c) => c.id === id);
    if (!found) throw new Error(`no SAML certificate with id ${id}`);
    if (this.active(all)?.id === id)
      throw new Error(
        `${id} is the current SAML signing certificate; run "poort keys rotate" and retire it once the new one signs`,
      );
    // The certificate stays, renamed, so that what it signed can still be checked; the private key goes.
    fs.renameSync(
      path.join(this.dir, `${PREFIX}${id}${CERT_SUFFIX}`),
      path.join(this.dir, `retired-${PREFIX}${id}${CERT_SUFFIX}`),
    );
    fs.rmSync(path.join(this.dir, `${PREFIX}${id}${KEY_SUFFIX}`), { force: true });
    return found;
  }

  /** Withdraws a certificate that was just added (its rotation could not be recorded). */
  withdraw(id: string): void {
    fs.rmSync(path.join(this.dir, `${PREFIX}${id}${CERT_SUFFIX}`), { force: true });
    fs.rmSync(path.join(this.dir, `${PREFIX}${id}${KEY_SUFFIX}`), { force: true });
  }

  /** Changes when certificates are added, retired or become active: the metadata and signer are rebuilt. */
  version(now = Date.now()): string {
    try {
      return this.published(now)
        .map((c) => c.id)
        .join(',');
    } catch {
      return '';
    }
  }
}
