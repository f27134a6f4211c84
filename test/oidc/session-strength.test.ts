import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionStrengths } from '../../src/oidc/session-strength.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { openTestKeyValueStore } from '../helpers/backend.js';
import { tempDir } from '../helpers/poort.js';

const ACR = {
  password: 'urn:poort:acr:password',
  mfa: 'urn:poort:acr:mfa',
  phishing_resistant: 'urn:poort:acr:phishing-resistant',
};

describe('the strength of a single sign-on session', () => {
  let dir: string;
  let kv: KeyValueStore;
  let strengths: SessionStrengths;

  beforeEach(async () => {
    dir = tempDir();
    kv = await openTestKeyValueStore(dir);
    strengths = new SessionStrengths(kv, ACR, 3600);
  });
  afterEach(async () => {
    await kv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const session = { uid: 'sess-1', accountId: 'u-1', acr: ACR.mfa, loginTs: 1_800_000_000 };

  it('reads the acr where it says everything: password only, phishing-resistant', async () => {
    expect(await strengths.of({ ...session, acr: ACR.password })).toBeUndefined();
    expect(await strengths.of({ ...session, acr: undefined })).toBeUndefined();
    expect(await strengths.of({ ...session, acr: ACR.phishing_resistant })).toBe('phishing_resistant');
  });

  it('counts the multi-factor acr as the weakest factor unless the sign-in kept more', async () => {
    expect(await strengths.of(session)).toBe('otp');
    await strengths.signedIn(session, 'totp');
    expect(await strengths.of(session)).toBe('totp');
  });

  it('binds what it kept to the sign-in it came from: the same account, the same time', async () => {
    await strengths.signedIn(session, 'totp');
    // a later sign-in in the same session (a code by e-mail this time) does not inherit TOTP
    expect(await strengths.of({ ...session, loginTs: session.loginTs + 60 })).toBe('otp');
    expect(await strengths.of({ ...session, accountId: 'u-2' })).toBe('otp');
    expect(await strengths.of({ ...session, uid: 'sess-2' })).toBe('otp');
  });

  it('keeps nothing where the acr says it all, and expires with the session', async () => {
    await strengths.signedIn(session, 'otp');
    await strengths.signedIn({ ...session, uid: 'sess-2' }, 'phishing_resistant');
    await strengths.signedIn({ ...session, uid: 'sess-3' }, undefined);
    for (const uid of ['sess-1', 'sess-2', 'sess-3'])
      expect(await kv.get(`session:strength:${uid}`)).toBeUndefined();

    const brief = new SessionStrengths(kv, ACR, 1);
    await brief.signedIn(session, 'totp');
    expect(await brief.of(session)).toBe('totp');
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect(await brief.of(session)).toBe('otp');
  });
});
