import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newTotpSecret } from '../../src/mfa/totp.js';
import { Browser, readForm } from '../helpers/browser.js';
import {
  authorizeInBrowser,
  isPasswordForm,
  relyingParty,
  signIn as oidcSignIn,
  startAuthorization,
  verifiedLogoutToken,
} from '../helpers/oidc.js';
import type { TestPoort } from '../helpers/poort.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { isCodeForm, readSamlPost, signInAt, totpCode, walk } from '../helpers/saml-browser.js';
import { auditCount, refusalProblems, startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider, type ValidatedResponse } from '../helpers/saml-sp.js';
import { decodeSamlMessage, readStatus, STATUS } from '../helpers/saml-xml.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const REDIRECT = 'http://127.0.0.1:7961/cb';
const SECRET = 'app-secret-0123456789';
const LOGGED_OUT = 'http://127.0.0.1:7961/logged-out';
const PASSWORD_PROTECTED_TRANSPORT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';
/** a class an SP asks for when it wants more than a password (REFEDS MFA profile) */
const REFEDS_MFA = 'https://refeds.org/profile/mfa';
/** what Poort reports after a second factor: its own multi-factor acr */
const MULTI_FACTOR = 'urn:poort:acr:mfa';

/** One session for OIDC and SAML: single sign-on across protocols, step-up, and single logout. */
describe('SAML and the shared sign-in session', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let alpha: ServiceProvider;
  let beta: ServiceProvider;
  let rp: oidc.Configuration;
  let evaSecret: string;
  let evaCodes = 0;
  let receiver: Receiver;
  let wiki: oidc.Configuration;

  beforeAll(async () => {
    alpha = await ServiceProvider.create({ entityId: 'https://alpha.example.test/sp', signRequests: true });
    beta = await ServiceProvider.create({ entityId: 'https://beta.example.test/sp' });
    poort = await startSamlPoort([{ sp: alpha }, { sp: beta }], {
      yaml: 'mfa: { required: never }\n',
    });
    await poort.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org' });
    const eva = await poort.addUser({ username: 'eva', password: PASSWORD, email: 'eva@example.org' });
    evaSecret = newTotpSecret();
    await poort.services.factors.add({ userId: eva, kind: 'totp', name: 'Phone', secret: evaSecret });
    await poort.addClient({ clientId: 'app', secret: SECRET, redirectUris: [REDIRECT] });
    rp = await relyingParty(poort, 'app', SECRET);
    receiver = await startReceiver();
    await poort.addClient({
      clientId: 'wiki',
      secret: SECRET,
      redirectUris: [REDIRECT],
      postLogoutRedirectUris: [LOGGED_OUT],
      backchannelLogoutUri: receiver.url('/wiki/bcl'),
    });
    wiki = await relyingParty(poort, 'wiki', SECRET);
  }, 120_000);
  afterAll(async () => {
    await poort?.stop();
    await receiver?.close();
  });

  /** Each TOTP step is accepted once: every code eva types is from a later step than the one before. */
  const nextEvaCode = () => totpCode(evaSecret, -1 + evaCodes++);

  it('gives a SAML SP an assertion without a password prompt after an OIDC sign-in', async () => {
    const browser = new Browser();
    await oidcSignIn(rp, browser, ANNA, { redirectUri: REDIRECT });
    const request = await alpha.redirectRequest();
    const walked = await signInAt(alpha, browser, request);
    expect(walked.prompts).toEqual([]);
    const result = await alpha.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(result.attributes.email).toEqual(['anna@example.org']);
    expect(result.authnContextClassRef).toBe(PASSWORD_PROTECTED_TRANSPORT);
  });

  it('gives an OIDC client a code without a password prompt after a SAML sign-in', async () => {
    const browser = new Browser();
    await signInAt(beta, browser, await beta.redirectRequest(), ANNA);
    const pending = await startAuthorization(rp, { redirectUri: REDIRECT });
    const page = await authorizeInBrowser(browser, pending);
    expect(page.status).toBe(0);
    expect(new URL(page.url).searchParams.get('code')).toBeTruthy();
  });

  it('steps up to a second factor inside the session when an SP asks for a multi-factor context', async () => {
    const browser = new Browser();
    const { tokens } = await oidcSignIn(
      rp,
      browser,
      { username: 'eva', password: PASSWORD },
      { redirectUri: REDIRECT },
    );
    expect(tokens.claims()!.amr).toEqual(['pwd']);

    const request = await beta.redirectRequest({ authnContext: [REFEDS_MFA], comparison: 'minimum' });
    const first = await browser.navigate(request.url);
    expect(isPasswordForm(first)).toBe(false);
    expect(isCodeForm(first)).toBe(true);
    const walked = await walk(browser, first, { username: 'eva', password: PASSWORD, totp: nextEvaCode });
    expect(walked.prompts).toEqual(['code']);
    const result = await beta.validateResponse(walked.post!.fields as { SAMLResponse: string });
    // the class the SP asked for, which the sign-in satisfies
    expect(result.authnContextClassRef).toBe(REFEDS_MFA);
    expect(result.attributes.email).toEqual(['eva@example.org']);

    // the session is now multi-factor: a password-only SP request in it says what was really used
    const plain = await signInAt(alpha, browser, await alpha.redirectRequest());
    expect(plain.prompts).toEqual([]);
    const again = await alpha.validateResponse(plain.post.fields as { SAMLResponse: string });
    expect(again.authnContextClassRef).toBe(MULTI_FACTOR);
  });

  it('asks for the password and then the code when an SP demands multi-factor without a session', async () => {
    const browser = new Browser();
    const request = await beta.postRequest({ authnContext: [MULTI_FACTOR], comparison: 'exact' });
    const walked = await signInAt(beta, browser, request, {
      username: 'eva',
      password: PASSWORD,
      totp: nextEvaCode,
    });
    expect(walked.prompts).toEqual(['password', 'code']);
    const result = await beta.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(result.authnContextClassRef).toBe(MULTI_FACTOR);
  });

  it('answers Responder/NoAuthnContext when an SP asks only for classes Poort does not know', async () => {
    const browser = new Browser();
    const request = await beta.redirectRequest({
      authnContext: ['urn:example:retina-scan'],
      comparison: 'exact',
    });
    const walked = await walk(browser, await browser.navigate(request.url), ANNA);
    expect(walked.post?.action).toBe(beta.acsUrl);
    const xml = decodeSamlMessage(walked.post!.SAMLResponse!, 'post');
    expect(readStatus(xml)).toMatchObject({ code: STATUS.responder, subCode: STATUS.noAuthnContext });
    expect(xml).not.toMatch(/Assertion/);
  });

  /** Signs anna in at alpha in a fresh browser; returns the browser and what alpha validated. */
  async function signedInAtAlpha(): Promise<{ browser: Browser; result: ValidatedResponse }> {
    const browser = new Browser();
    const walked = await signInAt(alpha, browser, await alpha.redirectRequest(), ANNA);
    const result = await alpha.validateResponse(walked.post.fields as { SAMLResponse: string });
    return { browser, result };
  }

  it('logs out on a LogoutRequest from the SP: LogoutResponse Success, then the password is needed again', async () => {
    const { browser, result } = await signedInAtAlpha();
    const logouts = await auditCount(poort, 'saml.logout');
    const request = await alpha.logoutRequest(
      {
        nameId: result.nameId,
        nameIdFormat: result.nameIdFormat,
        spNameQualifier: result.spNameQualifier,
        sessionIndex: result.sessionIndex,
      },
      'bye',
    );
    const walked = await walk(
      browser,
      await browser.navigate(request.url, {}, alpha.sloUrl),
      undefined,
      alpha.sloUrl,
    );
    const answer = await alpha.validateWalkedLogoutResponse(walked);
    if (walked.post) {
      expect(walked.post.action).toBe(alpha.sloUrl);
      expect(walked.post.RelayState).toBe('bye');
    }
    expect(answer.status).toBe(STATUS.success);
    expect(answer.inResponseTo).toBe(request.id);
    expect(await auditCount(poort, 'saml.logout')).toBeGreaterThan(logouts);

    // the session is gone for both protocols
    const next = await browser.navigate((await alpha.redirectRequest()).url);
    expect(isPasswordForm(next)).toBe(true);
    const pending = await startAuthorization(rp, { redirectUri: REDIRECT });
    expect(isPasswordForm(await browser.navigate(pending.url.href, {}, REDIRECT))).toBe(true);
  });

  // every SP endpoint of these tests is under this prefix: a walk stops at any of them
  const sps = 'http://127.0.0.1:9/';

  /**
   * Anna signs in at alpha, then at beta (single sign-on); alpha's LogoutRequest ends the session, and Poort passes
   * the logout on to beta: the LogoutRequest beta received, with the chain as its RelayState.
   */
  async function logoutPassedToBeta(browser: Browser) {
    const atAlpha = await signInAt(alpha, browser, await alpha.redirectRequest(), ANNA);
    const alphaSession = await alpha.validateResponse(atAlpha.post.fields as { SAMLResponse: string });
    const atBeta = await signInAt(beta, browser, await beta.redirectRequest());
    const betaSession = await beta.validateResponse(atBeta.post.fields as { SAMLResponse: string });
    const request = await alpha.logoutRequest(
      {
        nameId: alphaSession.nameId,
        nameIdFormat: alphaSession.nameIdFormat,
        spNameQualifier: alphaSession.spNameQualifier,
        sessionIndex: alphaSession.sessionIndex,
      },
      'alpha-bye',
    );
    const toBeta = await walk(browser, await browser.navigate(request.url, {}, sps), undefined, sps);
    if (toBeta.post) expect(toBeta.post.action).toBe(beta.sloUrl);
    const told = toBeta.post?.SAMLRequest
      ? await beta.receiveLogoutRequest({ binding: 'post', fields: toBeta.post.fields })
      : await beta.receiveLogoutRequest({ binding: 'redirect', url: toBeta.redirectedTo! });
    return { request, told, betaSession };
  }

  /** Beta's LogoutResponse (Success) to what it was told, walked on through Poort to the LogoutResponse alpha gets. */
  async function betaAnswers(browser: Browser, told: Awaited<ReturnType<typeof logoutPassedToBeta>>['told']) {
    const answerUrl = await beta.logoutResponseUrl(told.profile, told.relayState);
    const toAlpha = await walk(browser, await browser.navigate(answerUrl, {}, sps), undefined, sps);
    const answer = await alpha.validateWalkedLogoutResponse(toAlpha);
    return { answerUrl, answer };
  }

  it("tells the session's other SAML SPs before answering the SP that logs out", async () => {
    const browser = new Browser();
    const { request, told, betaSession } = await logoutPassedToBeta(browser);
    expect(told.profile.nameID).toBe(betaSession.nameId);
    expect(told.profile.sessionIndex).toBe(betaSession.sessionIndex);

    const { answer } = await betaAnswers(browser, told);
    expect(answer.status).toBe(STATUS.success);
    expect(answer.inResponseTo).toBe(request.id);
    for (const sp of [alpha, beta])
      expect(isPasswordForm(await browser.navigate((await sp.redirectRequest()).url))).toBe(true);
  });

  it('moves a logout chain on only with the LogoutResponse to the request Poort sent, and only once', async () => {
    const browser = new Browser();
    const { request, told } = await logoutPassedToBeta(browser);
    const refusedBefore = await auditCount(poort, 'saml.logout', beta.entityId, 'failure');

    // Signed by the SP, in the chain, but answering another request: refused, and the chain waits on.
    const other = await beta.logoutResponseUrl(
      { ...told.profile, ID: '_not-the-request-poort-sent' },
      told.relayState,
    );
    const wrongAnswer = await browser.navigate(other, {}, sps);
    expect(refusalProblems(wrongAnswer)).toEqual([]);
    expect(wrongAnswer.body).toContain('unsolicited_response');
    // The right answer outside the chain (another RelayState): refused too.
    const outside = await browser.navigate(
      await beta.logoutResponseUrl(told.profile, 'A'.repeat(32)),
      {},
      sps,
    );
    expect(refusalProblems(outside)).toEqual([]);
    expect(await auditCount(poort, 'saml.logout', beta.entityId, 'failure')).toBe(refusedBefore + 2);

    const { answerUrl, answer } = await betaAnswers(browser, told);
    expect(answer.status).toBe(STATUS.success);
    expect(answer.inResponseTo).toBe(request.id);

    // Played again, the same response moves nothing.
    const replayed = await browser.navigate(answerUrl, {}, sps);
    expect(refusalProblems(replayed)).toEqual([]);
    expect(await auditCount(poort, 'saml.logout', beta.entityId, 'failure')).toBe(refusedBefore + 3);
  });

  it('keeps the session when the LogoutRequest names a session index it does not know', async () => {
    const { browser, result } = await signedInAtAlpha();
    const request = await alpha.logoutRequest({
      nameId: result.nameId,
      nameIdFormat: result.nameIdFormat,
      spNameQualifier: result.spNameQualifier,
      sessionIndex: '_not-a-session-index',
    });
    const walked = await walk(
      browser,
      await browser.navigate(request.url, {}, alpha.sloUrl),
      undefined,
      alpha.sloUrl,
    );
    if (walked.redirectedTo || walked.post) {
      const answer = await alpha.validateWalkedLogoutResponse(walked);
      expect(answer.status).toBe(STATUS.requester);
    } else {
      expect(walked.page.status).toBe(400);
    }
    const still = await signInAt(alpha, browser, await alpha.redirectRequest());
    expect(still.prompts).toEqual([]);
  });

  it('tells the OIDC clients of the session over back-channel when a SAML SP logs out', async () => {
    const browser = new Browser();
    const { tokens } = await oidcSignIn(wiki, browser, ANNA, { redirectUri: REDIRECT });
    const walked = await signInAt(alpha, browser, await alpha.redirectRequest());
    expect(walked.prompts).toEqual([]);
    const result = await alpha.validateResponse(walked.post.fields as { SAMLResponse: string });
    const request = await alpha.logoutRequest({
      nameId: result.nameId,
      nameIdFormat: result.nameIdFormat,
      spNameQualifier: result.spNameQualifier,
      sessionIndex: result.sessionIndex,
    });
    const done = await walk(
      browser,
      await browser.navigate(request.url, {}, alpha.sloUrl),
      undefined,
      alpha.sloUrl,
    );
    const answer = await alpha.validateWalkedLogoutResponse(done);
    expect(answer.status).toBe(STATUS.success);

    const delivered = await receiver.waitFor('/wiki/bcl');
    const payload = await verifiedLogoutToken(poort.issuer, delivered, 'wiki');
    expect(payload.sid).toBe(tokens.claims()!.sid);
    expect(payload.sub).toBe(tokens.claims()!.sub);
  });

  it('ends the SAML side of the session when the person signs out at an OIDC client', async () => {
    const browser = new Browser();
    const first = await signInAt(alpha, browser, await alpha.redirectRequest(), ANNA);
    const assertion = await alpha.validateResponse(first.post.fields as { SAMLResponse: string });
    const { tokens } = await oidcSignIn(wiki, browser, ANNA, { redirectUri: REDIRECT });
    const confirmation = await browser.navigate(
      oidc.buildEndSessionUrl(wiki, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: LOGGED_OUT })
        .href,
    );
    const form = readForm(confirmation, 'op.logoutForm');
    const after = await browser.navigate(
      form.action,
      { form: { ...form.fields, logout: 'yes' } },
      LOGGED_OUT,
    );
    // Where Poort tells the SAML SP front-channel, the LogoutRequest it carries names alpha's session.
    const told = readSamlPost(after);
    if (told?.SAMLRequest) {
      expect(told.action).toBe(alpha.sloUrl);
      const xml = decodeSamlMessage(told.SAMLRequest, 'post');
      expect(xml).toContain(assertion.nameId);
      expect(xml).toContain(assertion.sessionIndex!);
    } else {
      expect(after.status).toBe(0);
    }
    const next = await browser.navigate((await alpha.redirectRequest()).url);
    expect(isPasswordForm(next)).toBe(true);
  });
});
