import { describe, expect, it } from 'vitest';
import {
  acrValuesFor,
  classRefFor,
  PASSWORD_PROTECTED_TRANSPORT,
  requirementFor,
} from '../../../src/saml/authn-context.js';

const ACR = {
  password: 'urn:poort:acr:password',
  mfa: 'urn:poort:acr:mfa',
  phishing_resistant: 'urn:poort:acr:phishing-resistant',
};
const TIME_SYNC_TOKEN = 'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken';
const REFEDS = 'https://refeds.org/profile/mfa';
const asked = (comparison: 'exact' | 'minimum' | 'better' | 'maximum', ...classRefs: string[]) => ({
  comparison,
  classRefs,
});
const ask = (comparison: 'exact' | 'minimum' | 'better' | 'maximum', ...classRefs: string[]) =>
  requirementFor({ comparison, classRefs }, ACR);

describe('RequestedAuthnContext and the strengths of sign-in', () => {
  it('needs nothing beyond a password when nothing or a password class is asked', () => {
    expect(requirementFor(undefined, ACR)).toBe('none');
    expect(ask('exact', PASSWORD_PROTECTED_TRANSPORT)).toBe('none');
    expect(ask('minimum', 'urn:oasis:names:tc:SAML:2.0:ac:classes:Password')).toBe('none');
  });

  it('asks for a second factor for multi-factor classes, and a phishing-resistant one for that acr', () => {
    expect(ask('exact', ACR.mfa)).toBe('any');
    expect(ask('minimum', 'https://refeds.org/profile/mfa')).toBe('any');
    expect(ask('exact', ACR.phishing_resistant)).toBe('phishing_resistant');
  });

  it('asks for TOTP or stronger for TimeSyncToken, never a code by e-mail or SMS', () => {
    expect(ask('exact', TIME_SYNC_TOKEN)).toBe('totp');
    expect(ask('minimum', TIME_SYNC_TOKEN, ACR.phishing_resistant)).toBe('totp');
    expect(ask('minimum', TIME_SYNC_TOKEN, REFEDS)).toBe('any');
    expect(ask('better', TIME_SYNC_TOKEN)).toBe('phishing_resistant');
  });

  it('takes the weakest listed class for exact and minimum, one level up for better', () => {
    expect(ask('exact', ACR.phishing_resistant, ACR.mfa)).toBe('any');
    expect(ask('better', PASSWORD_PROTECTED_TRANSPORT)).toBe('any');
    expect(ask('better', ACR.mfa)).toBe('phishing_resistant');
    expect(ask('maximum', ACR.mfa)).toBe('none');
  });

  it('cannot satisfy classes it does not know, or better than phishing-resistant (NoAuthnContext)', () => {
    expect(ask('exact', 'urn:example:unknown')).toBeUndefined();
    expect(ask('better', ACR.phishing_resistant)).toBeUndefined();
  });

  it('asks oidc-provider with acr_values and reports what was really used', () => {
    expect(acrValuesFor('none', ACR)).toBeUndefined();
    expect(acrValuesFor('any', ACR)).toBe(ACR.mfa);
    expect(acrValuesFor('phishing_resistant', ACR)).toBe(ACR.phishing_resistant);
    // TOTP has no acr of its own: the multi-factor acr, with the SAML requirement parameter beside it
    expect(acrValuesFor('totp', ACR)).toBe(ACR.mfa);
    expect(classRefFor(undefined, ACR)).toBe(PASSWORD_PROTECTED_TRANSPORT);
    expect(classRefFor('otp', ACR)).toBe(ACR.mfa);
    expect(classRefFor('totp', ACR)).toBe(ACR.mfa);
    expect(classRefFor('phishing_resistant', ACR)).toBe(ACR.phishing_resistant);
  });

  it('reports the strongest class the SP listed that the sign-in satisfies (exact, minimum, maximum)', () => {
    expect(classRefFor('otp', ACR, asked('exact', REFEDS))).toBe(REFEDS);
    expect(classRefFor('phishing_resistant', ACR, asked('minimum', REFEDS))).toBe(REFEDS);
    expect(classRefFor('otp', ACR, asked('exact', PASSWORD_PROTECTED_TRANSPORT, REFEDS))).toBe(REFEDS);
    expect(classRefFor('otp', ACR, asked('exact', PASSWORD_PROTECTED_TRANSPORT))).toBe(
      PASSWORD_PROTECTED_TRANSPORT,
    );
    // not satisfied, unknown, or better: what was really used
    expect(classRefFor(undefined, ACR, asked('maximum', REFEDS))).toBe(PASSWORD_PROTECTED_TRANSPORT);
    expect(classRefFor('otp', ACR, asked('exact', 'urn:example:unknown'))).toBe(ACR.mfa);
    expect(classRefFor('phishing_resistant', ACR, asked('better', REFEDS))).toBe(ACR.phishing_resistant);
  });

  it('reports TimeSyncToken only for TOTP or stronger, never for a code by e-mail or SMS', () => {
    expect(classRefFor('totp', ACR, asked('exact', TIME_SYNC_TOKEN))).toBe(TIME_SYNC_TOKEN);
    expect(classRefFor('phishing_resistant', ACR, asked('minimum', TIME_SYNC_TOKEN))).toBe(TIME_SYNC_TOKEN);
    expect(classRefFor('otp', ACR, asked('exact', TIME_SYNC_TOKEN))).toBe(ACR.mfa);
    expect(classRefFor('otp', ACR, asked('minimum', REFEDS, TIME_SYNC_TOKEN))).toBe(REFEDS);
    expect(classRefFor('totp', ACR, asked('minimum', REFEDS, TIME_SYNC_TOKEN))).toBe(TIME_SYNC_TOKEN);
  });
});
