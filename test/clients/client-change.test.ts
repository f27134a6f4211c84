import { describe, expect, it } from 'vitest';
import {
  applyClientChange,
  clientChanges,
  SECRET_PLACEHOLDER,
  type ClientRecord,
} from '../../src/clients/clients.js';

const WIKI: ClientRecord = {
  clientId: 'wiki',
  name: 'Team wiki',
  public: false,
  redirectUris: ['https://wiki.example.org/a', 'https://wiki.example.org/b'],
  postLogoutRedirectUris: ['https://wiki.example.org/'],
  grantTypes: ['authorization_code', 'refresh_token'],
  firstParty: true,
  requirePkce: false,
  backchannelLogoutUri: 'https://wiki.example.org/logout',
  createdAt: '2026-01-01T00:00:00.000Z',
  source: 'store',
};
const record = (input: ReturnType<typeof applyClientChange>): ClientRecord => ({
  ...input,
  public: input.secret === undefined,
  createdAt: WIKI.createdAt,
  source: 'store',
});

describe('a change to a registered client', () => {
  it('keeps what it does not name, and the secret stays (a placeholder stands in for it)', () => {
    const input = applyClientChange(WIKI, {});
    expect(input).toEqual({
      clientId: 'wiki',
      name: 'Team wiki',
      secret: SECRET_PLACEHOLDER,
      redirectUris: WIKI.redirectUris,
      postLogoutRedirectUris: WIKI.postLogoutRedirectUris,
      grantTypes: WIKI.grantTypes,
      firstParty: true,
      requirePkce: false,
      backchannelLogoutUri: WIKI.backchannelLogoutUri,
    });
    expect(clientChanges(WIKI, record(input))).toEqual({});
  });

  it('adds URIs once, in order, and removes them; removing one that is not there is refused', () => {
    const input = applyClientChange(WIKI, {
      addRedirectUris: [
        'https://wiki.example.org/c',
        'https://wiki.example.org/a',
        'https://wiki.example.org/c',
      ],
      removeRedirectUris: ['https://wiki.example.org/b'],
    });
    expect(input.redirectUris).toEqual(['https://wiki.example.org/a', 'https://wiki.example.org/c']);
    expect(clientChanges(WIKI, record(input))).toEqual({
      redirect_uris: { added: ['https://wiki.example.org/c'], removed: ['https://wiki.example.org/b'] },
    });
    expect(() => applyClientChange(WIKI, { removeRedirectUris: ['https://wiki.example.org/x'] })).toThrow(
      'https://wiki.example.org/x is not a registered redirect URI',
    );
    expect(() =>
      applyClientChange(WIKI, { removePostLogoutRedirectUris: ['https://wiki.example.org/a'] }),
    ).toThrow('is not a registered post-logout redirect URI');
  });

  it('removes the name and the back-channel URI with null, and says so', () => {
    const input = applyClientChange(WIKI, { name: null, backchannelLogoutUri: null, firstParty: false });
    expect(input).not.toHaveProperty('name');
    expect(input).not.toHaveProperty('backchannelLogoutUri');
    expect(clientChanges(WIKI, record(input))).toEqual({
      client_name: null,
      backchannel_logout_uri: null,
      first_party: false,
    });
  });

  it('notes a new secret as replaced, never its value; a public client gets none', () => {
    const input = applyClientChange(WIKI, { secret: 'a new secret of some length' });
    expect(input.secret).toBe('a new secret of some length');
    expect(clientChanges(WIKI, record(input), true)).toEqual({ secret: 'replaced' });
    const spa: ClientRecord = { ...WIKI, clientId: 'spa', public: true };
    expect(applyClientChange(spa, {})).not.toHaveProperty('secret');
    expect(() => applyClientChange(spa, { secret: 'a new secret of some length' })).toThrow(
      'spa is a public client and has no secret',
    );
  });
});
