import crypto from 'node:crypto';
import type { KeyValueStore } from '../../store/kv.js';

/** A code that was sent: only its argon2id hash is kept, with its expiry and the wrong guesses it has had. */
export interface IssuedCode {
  /** tells this code from a later one sent to the same binding */
  id: string;
  hash: string;
  /** epoch ms */
  expiresAt: number;
  tries: number;
}

/** What is kept per binding (a sign-in or an enrolment) and factor: the current code, if any. */
export interface CodeRecord {
  code?: IssuedCode;
  /** enrolment: a digest of the address or number the code went to, which the code proves */
  boundTo?: string;
}

export type CodeCheck = 'ok' | 'invalid_code' | 'expired' | 'too_many_tries';

/** Six random digits, leading zeros kept. */
export function newCode(): string {
  return crypto.randomInt(0, 1_000_000).toString().padStart(6, '0');
}

/** The code as typed with spaces and dashes left out; undefined unless six digits remain. */
export function normaliseCode(input: string): string | undefined {
  const code = input.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(code) ? code : undefined;
}

/** Whether a code can still be tried. */
export function isActive(code: IssuedCode | undefined, now: number, maxTries: number): code is IssuedCode {
  return code !== undefined && now < code.expiresAt && code.tries < maxTries;
}

export type TryReservation =
  { kind: 'check'; id: string; hash: string; last: boolean } | { kind: 'expired' | 'too_many_tries' };

/**
 * Counts a guess before it is checked, so that parallel guesses cannot get past `maxTries` either. No code, an
 * expired one or one sent elsewhere than `boundTo` is `expired`; a code whose tries are used up is dead
 * (`too_many_tries`) until a new one is sent.
 */
export function reserveTry(
  record: CodeRecord | undefined,
  now: number,
  maxTries: number,
  boundTo?: string,
): { record: CodeRecord | undefined; reservation: TryReservation } {
  const code = record?.code;
  if (!record || !code || now >= code.expiresAt || record.boundTo !== boundTo) {
    return { record, reservation: { kind: 'expired' } };
  }
  if (code.tries >= maxTries) return { record, reservation: { kind: 'too_many_tries' } };
  const tries = code.tries + 1;
  return {
    record: { ...record, code: { ...code, tries } },
    reservation: { kind: 'check', id: code.id, hash: code.hash, last: tries >= maxTries },
  };
}

/** Takes the code out once it was used: only one request gets `true` for it. */
export function consume(
  record: CodeRecord | undefined,
  id: string,
): { record: CodeRecord | undefined; consumed: boolean } {
  if (record?.code?.id !== id) return { record, consumed: false };
  const { code: _used, ...rest } = record;
  return { record: rest, consumed: true };
}

/** Hashing as passwords are hashed (argon2id with the configured parameters). */
export interface CodeHasher {
  hash(code: string): Promise<string>;
  verify(hash: string, code: string): Promise<boolean>;
}

export interface CodeSettings {
  /** seconds */
  lifetime: number;
  maxTries: number;
  /** seconds the record is kept, so a later page view knows a code was sent already: the binding's lifetime */
  keep: number;
}

/** One-time codes in the key-value store, one current code per key; every change is one atomic update. */
export class OneTimeCodes {
  constructor(
    private readonly kv: KeyValueStore,
    private readonly hasher: CodeHasher,
    readonly settings: CodeSettings,
  ) {}

  private get ttl(): number {
    return Math.max(this.settings.lifetime, this.settings.keep);
  }

  async get(key: string): Promise<CodeRecord | undefined> {
    return this.kv.get<CodeRecord>(key);
  }

  /** Marks the key as seen; true only for the first caller, who then sends the first code. */
  async claim(key: string): Promise<boolean> {
    return this.kv.update<CodeRecord, boolean>(key, (current) =>
      current ? { value: current, result: false } : { value: {}, ttlSeconds: this.ttl, result: true },
    );
  }

  /** A new code for `key`, replacing any earlier one; returns the code (to send, never to keep) and its id. */
  async issue(key: string, boundTo?: string): Promise<{ code: string; id: string; expiresAt: number }> {
    const code = newCode();
    const issued: IssuedCode = {
      id: crypto.randomUUID(),
      hash: await this.hasher.hash(code),
      expiresAt: Date.now() + this.settings.lifetime * 1000,
      tries: 0,
    };
    await this.kv.update<CodeRecord, void>(key, () => ({
      value: { code: issued, ...(boundTo !== undefined ? { boundTo } : {}) },
      ttlSeconds: this.ttl,
      result: undefined,
    }));
    return { code, id: issued.id, expiresAt: issued.expiresAt };
  }

  /** Takes back a code that could not be sent. */
  async withdraw(key: string, id: string): Promise<void> {
    await this.kv.update<CodeRecord, void>(key, (current) => ({
      value: consume(current, id).record,
      result: undefined,
    }));
  }

  /** Checks a guess: counted first, then compared with the hash; a right code is used up at once. */
  async check(key: string, input: string, boundTo?: string): Promise<CodeCheck> {
    const reservation = await this.kv.update<CodeRecord, TryReservation>(key, (current, now) => {
      const next = reserveTry(current, now, this.settings.maxTries, boundTo);
      return { value: next.record, result: next.reservation };
    });
    if (reservation.kind !== 'check') return reservation.kind;
    const code = normaliseCode(input);
    const right = code !== undefined && (await this.hasher.verify(reservation.hash, code));
    if (!right) return reservation.last ? 'too_many_tries' : 'invalid_code';
    const consumed = await this.kv.update<CodeRecord, boolean>(key, (current) => {
      const next = consume(current, reservation.id);
      return { value: next.record, result: next.consumed };
    });
    // Another request with the same code was first.
    return consumed ? 'ok' : 'expired';
  }

  async forget(key: string): Promise<void> {
    await this.kv.delete(key);
  }
}
