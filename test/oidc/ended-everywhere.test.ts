import type { JWTPayload } from 'jose';
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/event.js';
import { endsEverySession, sessionEnded } from '../../src/oidc/ended-everywhere.js';
import { signInsCountAgain } from '../../src/oidc/signed-out.js';
import { accountSignIn } from '../helpers/account.js';
import { Browser, readForm } from '../helpers/browser.js';
import { runCliOn } from '../helpers/cli.js';
import {
  authorizeInBrowser,
  FAST_ARGON2,
  isPasswordForm,
  redeemCode,
  relyingParty,
  signIn,
  startAuthorization,
  submitPassword,
  verifiedLogoutToken,
} from '../helpers/oidc.js';
import { freePort, startPoort, type TestPoort } from '../helpers/poort.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { eventAfter, eventsSince, lastSeq } from '../helpers/trail.js';

const PASSWORD = 'correct horse battery staple';
const REDIRECT = 'http://127.0.0.1:7777/cb';

describe('a sign-out everywhere tells the applications (back-channel logout)', () => {
  let poort: TestPoort;
  let receiver: Receiver;
  let wiki: oidc.Configuration;
  let chat: oidc.Configuration;
  let intranet: oidc.Configuration;

  beforeAll(async () => {
    [poort, receiver] = await Promise.all([startPoort(FAST_ARGON2), startReceiver()]);
    for (const [clientId, bcl] of [
      ['wiki', '/wiki/bcl'],
      ['chat', '/chat/bcl'],
      ['intranet', undefined],
    ] as const) {
      await poort.addClient({
        clientId,
        secret: `${clientId}-secret-0123456789`,
        redirectUris: [REDIRECT],
        ...(bcl ? { backchannelLogoutUri: receiver.url(bcl) } : {}),
      });
    }
    const rp = (id: string) => relyingParty(poort, id, `${id}-secret-0123456789`);
    [wiki, chat, intranet] = [await rp('wiki'), await rp('chat'), await rp('intranet')];
  });
  afterAll(async () => {
    await poort?.stop();
    await receiver?.close();
  });

  /** The logout.backchannel event about `userId` after `seq`, once the sink has recorded it. */
  const told = (userId: string, seq: number): Promise<AuditEvent> =>
    eventAfter(poort, seq, (e) => e.action === 'logout.backchannel' && e.subject?.id === userId);

  /** The verified logout tokens the receiver got at `path` since `from` requests. */
  const logoutTokens = (path: string, clientId: string, from: number): Promise<JWTPayload[]> =>
    Promise.all(
      receiver.requests
        .slice(from)
        .filter((r) => r.path === path)
        .map((r) => verifiedLogoutToken(poort.issuer, r, clientId)),
    );

  it('posts a logout token for each earlier session of the person to each application, when the CLI signs them out', async () => {
    const annaId = await poort.addUser({ username: 'anna', password: PASSWORD });
    const bertId = await poort.addUser({ username: 'bert', password: PASSWORD });
    const anna = { username: 'anna', password: PASSWORD };
    // two browsers of anna's (a desktop in two applications, a laptop in one), and bert's
    const desktop = new Browser();
    const laptop = new Browser();
    const desktopWiki = await signIn(wiki, desktop, anna, { redirectUri: REDIRECT });
    const desktopChat = await signIn(chat, desktop, anna, { redirectUri: REDIRECT });
    await signIn(intranet, desktop, anna, { redirectUri: REDIRECT });
    const laptopWiki = await signIn(wiki, laptop, anna, { redirectUri: REDIRECT });
    const bertsBrowser = new Browser();
    await signIn(wiki, bertsBrowser, { username: 'bert', password: PASSWORD }, { redirectUri: REDIRECT });
    const seq = await lastSeq(poort);
    const from = receiver.requests.length;

    const out = await runCliOn(poort, ['user', 'sign-out', 'anna']);
    expect(out.code, out.stderr).toBe(0);

    const event = await told(annaId, seq);
    expect(event).toMatchObject({
      outcome: 'success',
      actor: { type: 'system', name: 'poort' },
      subject: { id: annaId, username: 'anna' },
      details: { cause: { action: 'logout' }, sessions: 2, notified: ['chat', 'wiki'] },
    });
    const cause = (await eventsSince(poort, seq)).find((e) => e.action === 'logout')!;
    expect(event.details!.cause).toEqual({ id: cause.id, action: 'logout' });

    const wikiTokens = await logoutTokens('/wiki/bcl', 'wiki', from);
    const chatTokens = await logoutTokens('/chat/bcl', 'chat', from);
    // one per session the application was signed in with, naming that session as the ID token did
    expect(wikiTokens.map((t) => t.sid).sort()).toEqual(
      [desktopWiki.tokens.claims()!.sid, laptopWiki.tokens.claims()!.sid].sort(),
    );
    expect(chatTokens.map((t) => t.sid)).toEqual([desktopChat.tokens.claims()!.sid]);
    for (const token of [...wikiTokens, ...chatTokens]) expect(token.sub).toBe(annaId);
    // bert was not signed out: nothing about him
    expect(wikiTokens.some((t) => t.sub === bertId)).toBe(false);

    // anna's sessions are gone; bert's goes on
    for (const browser of [desktop, laptop]) {
      const again = await authorizeInBrowser(
        browser,
        await startAuthorization(wiki, { redirectUri: REDIRECT }),
      );
      expect(isPasswordForm(again)).toBe(true);
    }
    const berts = await authorizeInBrowser(
      bertsBrowser,
      await startAuthorization(wiki, { redirectUri: REDIRECT }),
    );
    expect(berts.status).toBe(0);

    // a sign-in after the sign-out is not ended by it, nor told again
    const later = new Browser();
    await signIn(chat, later, anna, { redirectUri: REDIRECT });
    const after = receiver.requests.length;
    const disable = await runCliOn(poort, ['user', 'disable', 'bert']);
    expect(disable.code, disable.stderr).toBe(0);
    await told(bertId, seq);
    expect(receiver.requests.slice(after).filter((r) => r.path === '/chat/bcl')).toEqual([]);
    expect(
      await authorizeInBrowser(later, await startAuthorization(chat, { redirectUri: REDIRECT })),
    ).toMatchObject({
      status: 0,
    });
  });

  it('tells them when the person signs out everywhere on the account page', async () => {
    const carlaId = await poort.addUser({ username: 'carla', password: PASSWORD });
    const phone = new Browser();
    const { tokens } = await signIn(
      chat,
      phone,
      { username: 'carla', password: PASSWORD },
      { redirectUri: REDIRECT },
    );
    const seq = await lastSeq(poort);
    const from = receiver.requests.length;

    const browser = new Browser();
    const { page } = await accountSignIn(poort, 'carla', PASSWORD, { browser });
    const form = readForm(page, 'account-everywhere-form');
    expect((await browser.request(form.action, { form: form.fields })).status).toBe(200);

    const event = await told(carlaId, seq);
    // the phone's session, and the account page's own
    expect(event.details).toMatchObject({ cause: { action: 'logout' }, sessions: 2, notified: ['chat'] });
    expect((await logoutTokens('/chat/bcl', 'chat', from)).map((t) => t.sid)).toEqual([tokens.claims()!.sid]);
  });

  it('records the applications that could not be told, and ends the sessions all the same', async () => {
    // nothing listens there
    const closed = `http://127.0.0.1:${await freePort()}/bcl`;
    await poort.addClient({
      clientId: 'gone',
      secret: 'gone-secret-0123456789',
      redirectUris: [REDIRECT],
      backchannelLogoutUri: closed,
    });
    const gone = await relyingParty(poort, 'gone', 'gone-secret-0123456789');
    const doraId = await poort.addUser({ username: 'dora', password: PASSWORD });
    const dora = { username: 'dora', password: PASSWORD };
    const browser = new Browser();
    await signIn(gone, browser, dora, { redirectUri: REDIRECT });
    await signIn(chat, browser, dora, { redirectUri: REDIRECT });
    const seq = await lastSeq(poort);

    const out = await runCliOn(poort, ['user', 'disable', 'dora']);
    expect(out.code, out.stderr).toBe(0);

    expect(await told(doraId, seq)).toMatchObject({
      outcome: 'failure',
      reason: 'not_delivered',
      details: { cause: { action: 'user.disabled' }, sessions: 1, notified: ['chat'], failed: ['gone'] },
    });
    const again = await authorizeInBrowser(
      browser,
      await startAuthorization(chat, { redirectUri: REDIRECT }),
    );
    expect(isPasswordForm(again)).toBe(true);
  });

  it('lets a sign-in that began before the sessions were ended go on after they end', async () => {
    const evaId = await poort.addUser({ username: 'eva', password: PASSWORD });
    const eva = { username: 'eva', password: PASSWORD };
    const phone = new Browser();
    const before = await signIn(chat, phone, eva, { redirectUri: REDIRECT });
    const seq = await lastSeq(poort);
    const from = receiver.requests.length;
    // signed out everywhere, but not yet followed: the phone's session still exists when eva starts to sign in again
    await signInsCountAgain(await poort.services.users.endSessions(evaId));
    const pending = await startAuthorization(chat, { redirectUri: REDIRECT });
    const asked = await authorizeInBrowser(phone, pending);
    expect(isPasswordForm(asked)).toBe(true);
    // the sign-out is followed while she types her password: the session she began with ends
    await poort.services.audit.append({
      action: 'logout',
      outcome: 'success',
      actor: { type: 'cli' },
      subject: { id: evaId, username: 'eva' },
      details: { everywhere: true },
    });
    expect((await told(evaId, seq)).details).toMatchObject({ sessions: 1, notified: ['chat'] });
    expect((await logoutTokens('/chat/bcl', 'chat', from)).map((t) => t.sid)).toEqual([
      before.tokens.claims()!.sid,
    ]);

    const callback = await submitPassword(phone, asked, eva.username, eva.password, REDIRECT);
    expect(callback.status, callback.body.slice(0, 300)).toBe(0);
    const after = await redeemCode(chat, callback, pending);
    expect(after.claims()).toMatchObject({ sub: evaId });
    expect(after.claims()!.sid).not.toBe(before.tokens.claims()!.sid);
  });

  it('decides by the event alone', () => {
    const at = '2026-12-06T10:00:00.500Z';
    const second = Date.parse('2026-12-06T10:00:00Z') / 1000;
    expect(sessionEnded({ loginTs: second - 60 }, { time: at })).toBe(true);
    // the sign-ins of the sign-out's own second end with it, as UserRepository.endSessions has it
    expect(sessionEnded({ loginTs: second }, { time: at })).toBe(true);
    expect(sessionEnded({ loginTs: second + 1 }, { time: at })).toBe(false);
    expect(sessionEnded({}, { time: at })).toBe(true);

    const event = (action: AuditEvent['action'], details?: Record<string, unknown>, outcome = 'success') =>
      ({
        id: 'e',
        time: at,
        action,
        outcome,
        actor: { type: 'cli' },
        subject: { id: 'u1' },
        ...(details ? { details } : {}),
      }) as AuditEvent;
    expect(endsEverySession(event('logout', { everywhere: true }))).toBe(true);
    expect(endsEverySession(event('logout'))).toBe(false);
    expect(endsEverySession(event('password.changed', { signed_out_everywhere: true }))).toBe(true);
    expect(endsEverySession(event('password.changed'))).toBe(false);
    expect(endsEverySession(event('password.reset.completed', { signed_out_everywhere: true }))).toBe(true);
    expect(endsEverySession(event('user.disabled'))).toBe(true);
    expect(endsEverySession(event('user.removed'))).toBe(true);
    expect(endsEverySession(event('user.enabled'))).toBe(false);
    expect(endsEverySession(event('user.disabled', undefined, 'failure'))).toBe(false);
    expect(endsEverySession({ ...event('user.disabled'), subject: { username: 'x', known: false } })).toBe(
      false,
    );
  });
});
