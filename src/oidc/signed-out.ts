import { setTimeout as sleep } from 'node:timers/promises';
import type { Identity } from '../directory/identity.js';

/** What a token says of the sign-in behind it (epoch seconds). */
export interface TokenTimes {
  /** the sign-in's auth_time: codes and refresh tokens */
  authTime?: number | undefined;
  /** when a chain of rotated refresh tokens began */
  iiat?: number | undefined;
  /** when this token was issued */
  iat?: number | undefined;
}

/**
 * Whether a token comes from a sign-in before the user was signed out everywhere (a password reset,
 * `poort user sign-out`): such a token no longer works. Codes and refresh tokens carry their sign-in's time;
 * an access token counts from when it was issued.
 */
export function predatesSignOut(identity: Pick<Identity, 'sessionsNotBefore'>, token: TokenTimes): boolean {
  if (identity.sessionsNotBefore === undefined) return false;
  const signedInAt = token.authTime ?? token.iiat ?? token.iat;
  return signedInAt === undefined || signedInAt < identity.sessionsNotBefore;
}

/** Waits until sign-ins count again after a sign-out that took effect at `cut` (UserRepository.endSessions). */
export async function signInsCountAgain(cut: Date): Promise<void> {
  const wait = cut.getTime() - Date.now();
  if (wait > 0) await sleep(wait);
}
