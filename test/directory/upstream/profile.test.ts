import { describe, expect, it } from 'vitest';
import { upstreamProviderSchema } from '../../../src/directory/upstream/config.js';
import { upstreamProfile } from '../../../src/directory/upstream/profile.js';

const entra = upstreamProviderSchema.parse({
  id: 'entra',
  name: 'Microsoft',
  issuer: 'https://login.microsoftonline.com/tenant/v2.0',
  client_id: 'poort',
  client_secret: 'x',
  claims: { id: 'oid' },
}).claims;

describe('a provider’s claims as a Poort user', () => {
  it('takes the configured claims, and a username that is an address when there is no e-mail claim', () => {
    expect(
      upstreamProfile(
        {
          sub: 'pairwise-per-app',
          oid: '00000000-0000-0000-0000-0000000000aa',
          preferred_username: 'Jan.Jansen@School.example',
          name: 'Jan Jansen',
          groups: ['Staff', 'Staff', 42, null],
        },
        entra,
      ),
    ).toEqual({
      profile: {
        externalId: '00000000-0000-0000-0000-0000000000aa',
        username: 'jan.jansen@school.example',
        email: 'jan.jansen@school.example',
        name: 'Jan Jansen',
        givenName: null,
        familyName: null,
      },
      groups: ['42', 'Staff'],
    });
  });

  it('names the claim that is missing or unusable', () => {
    const base = { oid: 'x', preferred_username: 'jan', email: 'jan@school.example' };
    expect(upstreamProfile({ ...base, oid: undefined }, entra)).toEqual({ problem: 'no_id', claim: 'oid' });
    expect(upstreamProfile({ ...base, preferred_username: 'has space' }, entra)).toEqual({
      problem: 'invalid_username',
      claim: 'preferred_username',
    });
    expect(upstreamProfile({ ...base, email: undefined }, entra)).toEqual({
      problem: 'invalid_email',
      claim: 'email',
    });
  });

  it('says the groups are unknown, not empty, where the provider left them out as too many (Entra overage)', () => {
    const base = { oid: 'x', preferred_username: 'jan', email: 'jan@school.example' };
    const overage = {
      ...base,
      _claim_names: { groups: 'src1' },
      _claim_sources: { src1: { endpoint: 'https://graph.windows.net/tenant/users/x/getMemberObjects' } },
    };
    expect(upstreamProfile(overage, entra)).toMatchObject({ profile: { username: 'jan' }, groups: null });
    expect(upstreamProfile({ ...base, hasgroups: true }, entra)).toMatchObject({ groups: null });
    // a groups claim that is there wins; no claim and no sign of overage: no groups
    expect(upstreamProfile({ ...overage, groups: ['Staff'] }, entra)).toMatchObject({ groups: ['Staff'] });
    expect(upstreamProfile(base, entra)).toMatchObject({ groups: [] });
    expect(upstreamProfile({ ...base, _claim_names: { address: 'src1' } }, entra)).toMatchObject({
      groups: [],
    });
  });
});
