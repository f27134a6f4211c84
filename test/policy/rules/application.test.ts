import { describe, expect, it } from 'vitest';
import { context, holds, whenTrace } from '../fixture.js';

const top = {
  applications: {
    payroll: { classification: 'high' },
    'https://sp.example.org': { classification: 'high' },
    wiki: { classification: 'low' },
  },
};

describe('application condition', () => {
  it('matches application ids (OIDC client_id or SAML entityID)', () => {
    const ids = { application: { ids: ['payroll', 'https://sp.example.org'] } };
    expect(holds(ids, context({ application: { id: 'payroll' } }), top)).toBe(true);
    expect(
      holds(ids, context({ application: { id: 'https://sp.example.org', protocol: 'saml' } }), top),
    ).toBe(true);
    expect(holds(ids, context({ application: { id: 'wiki' } }), top)).toBe(false);
  });

  it('matches the classification of the application in the policy file', () => {
    const high = { application: { classification: ['high'] } };
    expect(holds(high, context({ application: { id: 'payroll' } }), top)).toBe(true);
    expect(
      holds(high, context({ application: { id: 'https://sp.example.org', protocol: 'saml' } }), top),
    ).toBe(true);
    expect(holds(high, context({ application: { id: 'wiki' } }), top)).toBe(false);
    expect(holds(high, context({ application: { id: 'not-listed' } }), top)).toBe(false);
  });

  it('says why', () => {
    const high = { application: { classification: ['high'] } };
    expect(whenTrace(high, context({ application: { id: 'payroll' } }), top).why).toBe(
      'application payroll is classified high',
    );
    expect(whenTrace(high, context({ application: { id: 'wiki' } }), top).why).toBe(
      'application wiki is classified low, not high',
    );
    expect(whenTrace(high, context({ application: { id: 'portal' } }), top).why).toBe(
      'application portal is not classified high',
    );
  });
});
