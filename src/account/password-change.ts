import type { AuditEventInput } from '../audit/event.js';
import type { PasswordHasher } from '../directory/password-hash.js';
import { checkPassword, type PasswordPolicy, type PasswordViolation } from '../directory/password-policy.js';
import type { UserRepository } from '../directory/users.js';
import type { Throttle } from '../signin/throttle.js';

/** What the person typed on the page. */
export interface PasswordChangeInput {
  current: string;
  password: string;
  repeat: string;
  /** end every session and token of the user, this visit's included */
  signOutEverywhere: boolean;
}

export type PasswordChangeResult =
  | { ok: true; /** when sessions before it stopped counting, if everything was signed out */ cut?: Date }
  | { ok: false; error: 'throttled'; retryAfterSeconds: number }
  | { ok: false; error: 'wrong_password' | 'password_mismatch' | 'same_password' }
  | { ok: false; error: 'password_policy'; violations: PasswordViolation[] };

export interface PasswordChangeDeps {
  users: Pick<UserRepository, 'findCredentials' | 'setPasswordHash' | 'endSessions'>;
  hasher: PasswordHasher;
  /** the sign-in's throttle: guesses of the current password count with those on the sign-in page */
  throttle: Throttle;
  policy: PasswordPolicy;
  /** the user's recent failures, which policies' `failed_attempts` conditions count (as the sign-in page's) */
  failed?: (userId: string) => Promise<void>;
  /** records `password.changed` with this outcome; the caller adds who, where and how */
  record: (event: Pick<AuditEventInput, 'outcome' | 'reason' | 'details'>) => Promise<void>;
}

/**
 * A signed-in user changes their own password: the current one first (throttled like a sign-in, so a session left
 * open is no way to guess it), then the new one twice, under the password policy and unlike the current one.
 * Every attempt is recorded as `password.changed`; the success before the change, which does not happen when it
 * cannot be recorded. With `signOutEverywhere`, every session and token from before stops working.
 */
export async function changePassword(
  deps: PasswordChangeDeps,
  user: { id: string; username: string; email: string },
  input: PasswordChangeInput,
  ip: string,
): Promise<PasswordChangeResult> {
  const row = await deps.users.findCredentials(user.username);
  if (!row || row.id !== user.id) throw new Error('the signed-in user is gone');
  // A user without a password (passkeys only) sets one: there is no current one to ask for.
  if (row.password_hash !== null) {
    const reservation = await deps.throttle.reserveFor(user.username, ip);
    if (!reservation.allowed) {
      await deps.record({
        outcome: 'denied',
        reason: 'throttled',
        details: { retry_after_seconds: reservation.retryAfterSeconds },
      });
      return { ok: false, error: 'throttled', retryAfterSeconds: reservation.retryAfterSeconds };
    }
    if (!(await deps.hasher.verify(row.password_hash, input.current))) {
      await deps.record({ outcome: 'failure', reason: 'wrong_password' });
      await deps.failed?.(user.id);
      return { ok: false, error: 'wrong_password' };
    }
    await deps.throttle.succeeded(user.username, ip);
  }
  if (input.password !== input.repeat) {
    await deps.record({ outcome: 'failure', reason: 'password_mismatch' });
    return { ok: false, error: 'password_mismatch' };
  }
  const violations = checkPassword(input.password, user, deps.policy);
  if (violations.length > 0) {
    await deps.record({
      outcome: 'failure',
      reason: 'password_policy',
      details: { violations: violations.map((v) => v.code) },
    });
    return { ok: false, error: 'password_policy', violations };
  }
  if (row.password_hash !== null && input.password === input.current) {
    await deps.record({ outcome: 'failure', reason: 'same_password' });
    return { ok: false, error: 'same_password' };
  }
  const hash = await deps.hasher.hash(input.password);
  await deps.record({ outcome: 'success', details: { signed_out_everywhere: input.signOutEverywhere } });
  await deps.users.setPasswordHash(user.id, hash);
  return input.signOutEverywhere ? { ok: true, cut: await deps.users.endSessions(user.id) } : { ok: true };
}
