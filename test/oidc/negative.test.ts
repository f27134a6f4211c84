import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, readForm, type Page } from '../helpers/browser.js';
import {
  FAST_ARGON2,
  isPasswordForm,
  protocolError,
  relyingParty,
  startAuthorization,
} from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:7777/cb';
const NATIVE_REDIRECT = 'http://127.0.0.1/cb';
const SECRET = 'app-secret-0123456789';
const CHALLENGE = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';

let poort: TestPoort;

beforeAll(async () => {
  poort = await startPoort(FAST_ARGON2);
  await poort.addUser({ username: 'anna', password: PASSWORD });
  await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
  await poort.addClient({
    clientId: 'strict',
    secret: 'strict-secret-0123456789',
    redirectUris: [REDIRECT],
    requirePkce: true,
  });
  await poort.addClient({ clientId: 'native', redirectUris: [NATIVE_REDIRECT] });
});
afterAll(async () => poort?.stop());

/** A browser's GET of /auth with exactly these parameters; redirects are not followed. */
async function authorize(params: Record<string, string | undefined>): Promise<Page> {
  const query = new URLSearchParams(
    Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined),
  );
  return new Browser().request(`${poort.issuer}/auth?${query}`);
}

const valid = {
  client_id: 'app',
  redirect_uri: REDIRECT,
  response_type: 'code',
  scope: 'openid',
  code_challenge: CHALLENGE,
  code_challenge_method: 'S256',
  state: 'st',
};

/** The error an authorization request was sent back to the application with. */
function redirectedError(page: Page, to: string): URLSearchParams {
  expect(page.status).toBe(303);
  const location = new URL(page.headers.get('location')!);
  expect(`${location.origin}${location.pathname}`).toBe(to);
  return location.hash ? new URLSearchParams(location.hash.slice(1)) : location.searchParams;
}

function expectErrorPage(page: Page, status: number, code: string): void {
  expect(page.status).toBe(status);
  expect(page.headers.get('location')).toBeNull();
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  expect(page.body).toContain(`<code>${code}</code>`);
}

async function tokenRequest(
  body: string,
  contentType = 'application/x-www-form-urlencoded',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${poort.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      authorization: `Basic ${Buffer.from(`app:${SECRET}`).toString('base64')}`,
    },
    body,
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
}

describe('redirect URI protection', () => {
  it('never sends the browser to an unregistered redirect_uri: Poort shows its own error page', async () => {
    for (const evil of [
      'https://evil.example/cb',
      `${REDIRECT}/more`,
      `${REDIRECT}?x=1`,
      'http://127.0.0.1:7777/CB',
    ]) {
      const page = await authorize({ ...valid, redirect_uri: evil });
      expectErrorPage(page, 400, 'invalid_redirect_uri');
      // No link, form or refresh on the page leads there either.
      expect(page.body).not.toMatch(/(href|action|url)="?https?:\/\/evil/i);
      expect(page.body).not.toMatch(/(href|action)="http:\/\/127\.0\.0\.1:7777/);
    }
  });

  it('shows its own error page for an unknown client, whatever redirect_uri it names', async () => {
    expectErrorPage(
      await authorize({ ...valid, client_id: 'nobody', redirect_uri: 'https://evil.example/cb' }),
      400,
      'invalid_client',
    );
  });
});

describe('PKCE', () => {
  it('refuses a public client without PKCE, answering at its registered redirect_uri', async () => {
    const page = await authorize({
      ...valid,
      client_id: 'native',
      redirect_uri: NATIVE_REDIRECT,
      code_challenge: undefined,
      code_challenge_method: undefined,
    });
    const error = redirectedError(page, NATIVE_REDIRECT);
    expect(error.get('error')).toBe('invalid_request');
    expect(error.get('error_description')).toMatch(/PKCE/);
    expect(error.get('state')).toBe('st');
  });

  it('refuses a confidential client registered with require_pkce when it sends no challenge', async () => {
    const page = await authorize({
      ...valid,
      client_id: 'strict',
      code_challenge: undefined,
      code_challenge_method: undefined,
    });
    expect(redirectedError(page, REDIRECT).get('error')).toBe('invalid_request');
  });

  it('lets other confidential clients decide for themselves', async () => {
    const page = await authorize({ ...valid, code_challenge: undefined, code_challenge_method: undefined });
    expect(isPasswordForm(page)).toBe(true);
  });

  it('accepts only the S256 method', async () => {
    for (const method of ['plain', 'S512', 'x'.repeat(300)]) {
      const error = redirectedError(await authorize({ ...valid, code_challenge_method: method }), REDIRECT);
      expect(error.get('error')).toBe('invalid_request');
      expect(error.get('error_description')).toMatch(/code_challenge_method/);
    }
  });
});

describe('client authentication at the token endpoint', () => {
  it('refuses a code redemption with a wrong client secret: invalid_client, 401, and the code stays unspent', async () => {
    const config = await relyingParty(poort, 'app', SECRET);
    const pending = await startAuthorization(config, { redirectUri: REDIRECT });
    const browser = new Browser();
    const login = await browser.navigate(pending.url.href);
    const form = readForm(login);
    const callback = await browser.navigate(
      form.action,
      { form: { ...form.fields, username: 'anna', password: PASSWORD } },
      REDIRECT,
    );
    const checks = {
      pkceCodeVerifier: pending.verifier,
      expectedState: pending.state,
      expectedNonce: pending.nonce,
    };

    const impostor = await relyingParty(poort, 'app', 'wrong-secret-0123456789');
    expect(
      await protocolError(oidc.authorizationCodeGrant(impostor, new URL(callback.url), checks)),
    ).toMatchObject({
      error: 'invalid_client',
      status: 401,
    });
    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback.url), checks);
    expect(tokens.access_token).toBeTruthy();
  });
});

describe('malformed, missing and oversized parameters', () => {
  it('answers a missing client_id with its error page', async () => {
    expectErrorPage(await authorize({ ...valid, client_id: undefined }), 400, 'invalid_request');
  });

  it('answers response_type=token (implicit, not supported) with unsupported_response_type', async () => {
    for (const responseType of ['token', 'id_token', 'code token', 'bogus']) {
      const error = redirectedError(await authorize({ ...valid, response_type: responseType }), REDIRECT);
      expect(error.get('error')).toBe('unsupported_response_type');
    }
  });

  it('answers a scope with characters outside the syntax with invalid_scope, and ignores unknown scopes', async () => {
    expect(
      redirectedError(await authorize({ ...valid, scope: 'openid "profile"' }), REDIRECT).get('error'),
    ).toBe('invalid_scope');
    const unknown = await authorize({ ...valid, scope: 'openid admin:everything' });
    expect(isPasswordForm(unknown)).toBe(true);
  });

  it('answers bad values of other parameters with invalid_request', async () => {
    for (const bad of [{ prompt: 'bogus' }, { max_age: 'soon' }, { response_mode: 'telepathy' }]) {
      const page = await authorize({ ...valid, ...bad });
      expect(page.status).toBeLessThan(500);
      expect(redirectedError(page, REDIRECT).get('error')).toMatch(
        /^invalid_request|unsupported_response_mode$/,
      );
    }
  });

  it('copes with a 10 kB state', async () => {
    const page = await authorize({ ...valid, state: 's'.repeat(10_000) });
    expect(isPasswordForm(page)).toBe(true);
  });

  it('refuses a 100 kB query string before it reaches the application (431 or 414)', async () => {
    const page = await authorize({ ...valid, state: 's'.repeat(100_000) });
    expect([414, 431]).toContain(page.status);
  });

  it('answers a 1 MB token request with invalid_request', async () => {
    const { status, json } = await tokenRequest(
      `grant_type=authorization_code&code=${'c'.repeat(1024 * 1024)}`,
    );
    expect(status).toBe(400);
    expect(json.error).toBe('invalid_request');
  });

  it('answers an unknown grant_type with unsupported_grant_type', async () => {
    const { status, json } = await tokenRequest('grant_type=urn:example:garbage');
    expect(status).toBe(400);
    expect(json.error).toBe('unsupported_grant_type');
  });

  it('answers a token request without grant_type, with it twice, or as JSON with invalid_request', async () => {
    for (const [body, type] of [
      ['code=abc', undefined],
      ['grant_type=authorization_code&grant_type=refresh_token', undefined],
      [JSON.stringify({ grant_type: 'client_credentials' }), 'application/json'],
    ] as const) {
      const { status, json } = await tokenRequest(body, type);
      expect(status).toBe(400);
      expect(json.error).toBe('invalid_request');
    }
  });

  it('answers an unknown code with invalid_grant', async () => {
    const { status, json } = await tokenRequest(
      new URLSearchParams({
        grant_type: 'authorization_code',
        code: 'nope',
        redirect_uri: REDIRECT,
        code_verifier: 'v'.repeat(43),
      }).toString(),
    );
    expect(status).toBe(400);
    expect(json.error).toBe('invalid_grant');
  });

  it('never answers any of these with a server error', async () => {
    const pages = await Promise.all([
      authorize({}),
      authorize({ client_id: '' }),
      authorize({ ...valid, client_id: '\u0000' }),
      authorize({ ...valid, redirect_uri: 'not a url' }),
      authorize({ ...valid, code_challenge: '' }),
      authorize({ ...valid, nonce: 'n'.repeat(5000) }),
      authorize({ ...valid, claims: '{not json' }),
      authorize({ ...valid, request: 'not.a.jwt' }),
      authorize({ ...valid, request_uri: 'https://evil.example/req' }),
      authorize({ ...valid, ui_locales: '\u00ff'.repeat(100) }),
      new Browser().request(`${poort.issuer}/auth?%zz=1`),
      new Browser().request(`${poort.issuer}/signin/${'x'.repeat(2000)}`),
      new Browser().request(`${poort.issuer}/session/end?id_token_hint=garbage`),
    ]);
    for (const page of pages) {
      // a protocol error, or a request good enough for the sign-in form
      if (!isPasswordForm(page)) expect(page.status, page.url.slice(0, 200)).toBeGreaterThanOrEqual(300);
      expect(page.status, page.url.slice(0, 200)).toBeLessThan(500);
    }
  });
});
