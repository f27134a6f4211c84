import { describe, expect, it } from 'vitest';
import { predatesSignOut, signInsCountAgain } from '../../src/oidc/signed-out.js';

describe('tokens and sessions after a user was signed out everywhere', () => {
  const signedOutAt = { sessionsNotBefore: 1_800_000_000 };

  it('keeps everything of a user who was never signed out', () => {
    expect(predatesSignOut({}, { authTime: 1, iat: 1 })).toBe(false);
  });

  it("judges by the sign-in's time where a token carries it, else by when the chain or token began", () => {
    expect(predatesSignOut(signedOutAt, { authTime: 1_799_999_999, iat: 1_800_000_100 })).toBe(true);
    expect(predatesSignOut(signedOutAt, { authTime: 1_800_000_000 })).toBe(false);
    expect(predatesSignOut(signedOutAt, { iiat: 1_799_999_000, iat: 1_800_000_100 })).toBe(true);
    expect(predatesSignOut(signedOutAt, { iat: 1_799_999_999 })).toBe(true);
    expect(predatesSignOut(signedOutAt, { iat: 1_800_000_001 })).toBe(false);
    expect(predatesSignOut(signedOutAt, {})).toBe(true);
  });

  it('waits for the cut before sign-ins count again, and not at all once it has passed', async () => {
    const start = Date.now();
    await signInsCountAgain(new Date(start + 300));
    expect(Date.now() - start).toBeGreaterThanOrEqual(295);
    const later = Date.now();
    await signInsCountAgain(new Date(later - 1000));
    expect(Date.now() - later).toBeLessThan(50);
  });
});
