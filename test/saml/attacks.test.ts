import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, type Page } from '../helpers/browser.js';
import type { TestPoort } from '../helpers/poort.js';
import {
  deflateBase64,
  deflateBomb,
  newId,
  paddedRequest,
  redirectUrl,
  setRootAttribute,
  signPostMessage,
  tamperAttribute,
  withEntityExpansion,
  withExternalEntity,
  wrapInside,
  wrapSignedRequest,
} from '../helpers/saml-attacks.js';
import { readSamlPost, sendAuthnRequest, signInAt, walk } from '../helpers/saml-browser.js';
import { auditCount, refusalProblems, startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider, type ValidatedResponse } from '../helpers/saml-sp.js';
import { children, NS, parseXml, STATUS } from '../helpers/saml-xml.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const BOB = { username: 'bob', password: PASSWORD };

/**
 * Hostile requests, each sent by a browser that already has a session: an IdP that accepted one would answer at
 * once with an assertion. Each must be refused with a 400 page (or a SAML error where it can safely be sent),
 * never a 5xx, and no assertion may be issued.
 */
describe('SAML attacks', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  /** declares AuthnRequestsSigned: its requests must carry a valid signature */
  let signer: ServiceProvider;
  let plain: ServiceProvider;
  let anna: Browser;
  /** an HTTP listener that counts fetches: an IdP resolving an external entity would call it */
  let oob: http.Server;
  let oobHits = 0;
  let oobUrl: string;

  beforeAll(async () => {
    signer = await ServiceProvider.create({ entityId: 'https://signer.example.test/sp', signRequests: true });
    plain = await ServiceProvider.create({ entityId: 'https://plain.example.test/sp' });
    poort = await startSamlPoort([{ sp: signer }, { sp: plain }]);
    await poort.addUser({ username: 'anna', password: PASSWORD });
    await poort.addUser({ username: 'bob', password: PASSWORD });
    anna = new Browser();
    await signInAt(plain, anna, await plain.redirectRequest(), ANNA);
    oob = http.createServer((_req, res) => {
      oobHits++;
      res.end('<!ENTITY leak "x">');
    });
    await new Promise<void>((resolve) => oob.listen(0, '127.0.0.1', resolve));
    oobUrl = `http://127.0.0.1:${(oob.address() as AddressInfo).port}/xxe`;
  }, 120_000);
  afterAll(async () => {
    await poort?.stop();
    oob?.close();
  });

  /** Sends `send` with anna's session and checks it is refused without an assertion, and audited as refused. */
  async function expectRefused(send: () => Promise<Page>): Promise<Page> {
    const issued = await auditCount(poort, 'saml.assertion.issued');
    const refusals = await auditCount(poort, 'saml.request', undefined, 'failure');
    const page = await send();
    expect(refusalProblems(page)).toEqual([]);
    expect(await auditCount(poort, 'saml.assertion.issued')).toBe(issued);
    expect(await auditCount(poort, 'saml.request', undefined, 'failure')).toBeGreaterThan(refusals);
    return page;
  }

  const sso = () => `${poort.issuer}/saml/sso`;
  const postTo = (fields: Record<string, string>) => anna.navigate(sso(), { form: fields });

  it('accepts the genuine requests the attacks start from', async () => {
    const signed = await signInAt(signer, anna, await signer.postRequest());
    expect(signed.prompts).toEqual([]);
    await signer.validateResponse(signed.post.fields as { SAMLResponse: string });
    const redirect = await signInAt(signer, anna, await signer.redirectRequest());
    await signer.validateResponse(redirect.post.fields as { SAMLResponse: string });
  });

  it('refuses a signed AuthnRequest wrapped in an unsigned one with the attacker’s fields', async () => {
    const genuine = await signer.postRequest();
    const wrapped = wrapSignedRequest(genuine.xml, {
      AssertionConsumerServiceURL: 'https://evil.example/acs',
    });
    await expectRefused(() => postTo({ SAMLRequest: Buffer.from(wrapped).toString('base64') }));
  });

  it('refuses a wrapped request even when its ACS is genuine (a fresh ID and ForceAuthn dropped)', async () => {
    const genuine = await signer.postRequest({ forceAuthn: true });
    const wrapped = wrapSignedRequest(genuine.xml, { ForceAuthn: 'false' });
    await expectRefused(() => postTo({ SAMLRequest: Buffer.from(wrapped).toString('base64') }));
  });

  it('refuses a wrapped request whose signature was moved to the root', async () => {
    const genuine = await signer.postRequest();
    const wrapped = wrapSignedRequest(genuine.xml, {}, { signatureAtRoot: true });
    await expectRefused(() => postTo({ SAMLRequest: Buffer.from(wrapped).toString('base64') }));
  });

  it('refuses a signed POST request with one attribute changed after signing', async () => {
    const genuine = await signer.postRequest();
    const tampered = tamperAttribute(genuine.xml, 'ForceAuthn', 'false');
    await expectRefused(() => postTo({ SAMLRequest: Buffer.from(tampered).toString('base64') }));
  });

  it('refuses a Redirect request whose message was changed under its query-string signature', async () => {
    const genuine = await signer.redirectRequest({ relayState: 'r' });
    const url = new URL(genuine.url);
    const changed = setRootAttribute(genuine.xml, 'ID', newId());
    url.searchParams.set('SAMLRequest', deflateBase64(changed));
    await expectRefused(() => anna.navigate(url.href));
    // and with the RelayState changed instead
    const relay = new URL(genuine.url);
    relay.searchParams.set('RelayState', 'other');
    await expectRefused(() => anna.navigate(relay.href));
  });

  it('refuses an unsigned request from an SP that declares AuthnRequestsSigned', async () => {
    const unsigned = await signer.redirectRequest({ sign: false });
    expect(new URL(unsigned.url).searchParams.has('Signature')).toBe(false);
    await expectRefused(() => anna.navigate(unsigned.url));
    const unsignedPost = await signer.postRequest({ sign: false });
    await expectRefused(() => postTo(unsignedPost.fields));
  });

  it("refuses a request signed with a key that is not the SP's", async () => {
    const impostor = await ServiceProvider.create({ entityId: signer.entityId, signRequests: true });
    await impostor.connect(signer.idp);
    await expectRefused(async () => anna.navigate((await impostor.redirectRequest()).url));
    await expectRefused(async () => postTo((await impostor.postRequest()).fields));
  });

  it('refuses a replayed request ID, signed or not', async () => {
    const signed = await signer.redirectRequest();
    await signInAt(signer, anna, signed);
    await expectRefused(() => anna.navigate(signed.url));
    const unsigned = await plain.postRequest();
    await signInAt(plain, anna, unsigned);
    await expectRefused(() => postTo(unsigned.fields));
  });

  it('refuses a request with a stale IssueInstant', async () => {
    const { xml } = await plain.redirectRequest();
    const stale = setRootAttribute(xml, 'IssueInstant', new Date(Date.now() - 60 * 60_000).toISOString());
    await expectRefused(() => anna.navigate(redirectUrl(sso(), deflateBase64(stale))));
  });

  it('refuses a future IssueInstant, a wrong Destination, an unsupported ProtocolBinding and an overlong RelayState', async () => {
    const { xml } = await plain.redirectRequest();
    const future = setRootAttribute(xml, 'IssueInstant', new Date(Date.now() + 30 * 60_000).toISOString());
    await expectRefused(() => anna.navigate(redirectUrl(sso(), deflateBase64(future))));
    const elsewhere = setRootAttribute(xml, 'Destination', 'https://other-idp.example/sso');
    await expectRefused(() => anna.navigate(redirectUrl(sso(), deflateBase64(elsewhere))));
    const artifact = setRootAttribute(
      (await plain.redirectRequest()).xml,
      'ProtocolBinding',
      'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact',
    );
    await expectRefused(() => anna.navigate(redirectUrl(sso(), deflateBase64(artifact))));
    const long = await plain.redirectRequest({ relayState: 'x'.repeat(2000) });
    await expectRefused(() => anna.navigate(long.url));
  });

  it('refuses a Redirect signature made with SHA-1', async () => {
    const request = await signer.redirectRequest();
    const sha1 = await signer.client({ signatureAlgorithm: 'sha1' }).getAuthorizeUrlAsync('', undefined, {});
    expect(new URL(sha1).searchParams.get('SigAlg')).toBe('http://www.w3.org/2000/09/xmldsig#rsa-sha1');
    await expectRefused(() => anna.navigate(sha1));
    // the same SP with SHA-256 is fine
    await signInAt(signer, anna, request);
  });

  it('refuses an ACS URL that is not in the SP metadata', async () => {
    const request = await plain.redirectRequest({ acsUrl: 'https://evil.example/acs' });
    await expectRefused(() => anna.navigate(request.url));
    const signed = await signer.postRequest({ acsUrl: 'https://evil.example/acs' });
    await expectRefused(() => postTo(signed.fields));
  });

  it('refuses an SP that is not registered', async () => {
    const stranger = await ServiceProvider.create({ entityId: 'https://stranger.example.test/sp' });
    await stranger.connect(plain.idp);
    await expectRefused(async () => anna.navigate((await stranger.redirectRequest()).url));
  });

  it('refuses a DOCTYPE with external entities and never fetches them (XXE)', async () => {
    const { xml } = await plain.redirectRequest();
    for (const systemId of ['file:///etc/passwd', oobUrl]) {
      const page = await expectRefused(() =>
        anna.navigate(redirectUrl(sso(), deflateBase64(withExternalEntity(xml, systemId)))),
      );
      expect(page.body).not.toMatch(/root:.*:0:0:/);
      const posted = await expectRefused(() =>
        postTo({ SAMLRequest: Buffer.from(withExternalEntity(xml, systemId)).toString('base64') }),
      );
      expect(posted.body).not.toMatch(/root:.*:0:0:/);
    }
    expect(oobHits).toBe(0);
  });

  it('refuses internal entity expansion (billion laughs) quickly', async () => {
    const { xml } = await plain.redirectRequest();
    const started = Date.now();
    await expectRefused(() => anna.navigate(redirectUrl(sso(), deflateBase64(withEntityExpansion(xml)))));
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a deflate bomb in the Redirect binding without inflating it all', async () => {
    const { xml } = await plain.redirectRequest();
    const padded = deflateBase64(paddedRequest(xml, 10 * 1024 * 1024));
    const started = Date.now();
    await expectRefused(() => anna.navigate(redirectUrl(sso(), padded)));
    expect(Date.now() - started).toBeLessThan(5000);

    // 50 MB of zeros: too long a URL even deflated; whatever refuses it, never a 5xx or an assertion
    const issued = await auditCount(poort, 'saml.assertion.issued');
    const page = await anna.navigate(redirectUrl(sso(), deflateBomb(50 * 1024 * 1024)));
    expect([400, 413, 414, 431]).toContain(page.status);
    expect(await auditCount(poort, 'saml.assertion.issued')).toBe(issued);
  });

  it('refuses an oversized POST-binding request', async () => {
    const { xml } = await plain.redirectRequest();
    const big = paddedRequest(xml, 2 * 1024 * 1024).toString('base64');
    const issued = await auditCount(poort, 'saml.assertion.issued');
    const page = await postTo({ SAMLRequest: big });
    expect([400, 413]).toContain(page.status);
    expect(readSamlPost(page)).toBeUndefined();
    expect(await auditCount(poort, 'saml.assertion.issued')).toBe(issued);
  });

  it('refuses malformed base64, data that does not inflate, and invalid XML', async () => {
    await expectRefused(() => anna.navigate(redirectUrl(sso(), '%%%not base64!!')));
    await expectRefused(() =>
      anna.navigate(redirectUrl(sso(), Buffer.from('not deflated').toString('base64'))),
    );
    await expectRefused(() => postTo({ SAMLRequest: '***' }));
    const broken = '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_x"';
    await expectRefused(() => anna.navigate(redirectUrl(sso(), deflateBase64(broken))));
    await expectRefused(() => postTo({ SAMLRequest: Buffer.from(broken).toString('base64') }));
    await expectRefused(() => anna.navigate(redirectUrl(sso(), deflateBase64('<notsaml/>'))));
    await expectRefused(() => anna.navigate(sso()));
  });

  /** Signs `credentials` in at the signing SP in a fresh browser. */
  async function sessionAtSigner(credentials: { username: string; password: string }) {
    const browser = new Browser();
    const walked = await signInAt(signer, browser, await signer.redirectRequest(), credentials);
    const result = await signer.validateResponse(walked.post.fields as { SAMLResponse: string });
    return { browser, result };
  }
  const sessionOf = (r: ValidatedResponse) => ({
    nameId: r.nameId,
    nameIdFormat: r.nameIdFormat,
    spNameQualifier: r.spNameQualifier,
    sessionIndex: r.sessionIndex,
  });

  /** Sends a LogoutRequest from `browser`; returns the LogoutResponse's status, or the page shown instead. */
  async function sendLogout(browser: Browser, url: string): Promise<string> {
    const walked = await walk(
      browser,
      await browser.navigate(url, {}, signer.sloUrl),
      undefined,
      signer.sloUrl,
    );
    if (walked.redirectedTo)
      return (await signer.validateLogoutResponse({ binding: 'redirect', url: walked.redirectedTo })).status!;
    if (walked.post?.SAMLResponse)
      return (await signer.validateLogoutResponse({ binding: 'post', fields: walked.post.fields })).status!;
    return `page ${walked.page.status}`;
  }
  const refused = (outcome: string) => outcome === STATUS.requester || outcome === 'page 400';

  /** Whether `browser` still gets an assertion for the same user at the signing SP without any prompt. */
  async function stillSignedIn(browser: Browser, nameId: string): Promise<boolean> {
    const walked = await sendAuthnRequest(browser, await signer.redirectRequest());
    if (!walked.post?.SAMLResponse || walked.prompts.length > 0) return false;
    return (await signer.validateResponse(walked.post.fields as { SAMLResponse: string })).nameId === nameId;
  }

  it("refuses a LogoutRequest naming another user's session, and that session stays alive", async () => {
    const a = await sessionAtSigner(ANNA);
    const b = await sessionAtSigner(BOB);
    // bob's browser, bob's SP session, anna's NameID and SessionIndex
    const outcome = await sendLogout(b.browser, (await signer.logoutRequest(sessionOf(a.result))).url);
    const annaSignedIn = await stillSignedIn(a.browser, a.result.nameId);
    expect({ outcome, refused: refused(outcome), annaSignedIn }).toEqual({
      outcome,
      refused: true,
      annaSignedIn: true,
    });
  });

  it('refuses a LogoutRequest naming another user from a browser without a session', async () => {
    const a = await sessionAtSigner(ANNA);
    const outcome = await sendLogout(new Browser(), (await signer.logoutRequest(sessionOf(a.result))).url);
    const annaSignedIn = await stillSignedIn(a.browser, a.result.nameId);
    expect({ outcome, refused: refused(outcome), annaSignedIn }).toEqual({
      outcome,
      refused: true,
      annaSignedIn: true,
    });
  });

  it("refuses a wrapped LogoutRequest: bob's signed request inside one that names anna", async () => {
    const a = await sessionAtSigner(ANNA);
    const b = await sessionAtSigner(BOB);
    const own = await signer.logoutRequest(sessionOf(b.result));
    const signedOwn = signPostMessage(own.xml, signer.signing!.privateKey, signer.signing!.certificate);
    const victim = await signer.logoutRequest(sessionOf(a.result));
    const wrapped = wrapInside(victim.xml, signedOwn);
    const outer = parseXml(wrapped).documentElement;
    expect(children(outer, NS.assertion, 'NameID')[0]!.textContent).toBe(a.result.nameId);
    expect(children(outer, NS.dsig, 'Signature')).toHaveLength(0);
    const page = await b.browser.navigate(
      `${poort.issuer}/saml/slo`,
      { form: { SAMLRequest: Buffer.from(wrapped).toString('base64') } },
      signer.sloUrl,
    );
    const post = readSamlPost(page);
    if (post?.SAMLResponse) {
      const answer = await signer.validateLogoutResponse({ binding: 'post', fields: post.fields });
      expect(answer.status).not.toBe(STATUS.success);
    } else if (page.status === 0) {
      const answer = await signer.validateLogoutResponse({ binding: 'redirect', url: page.url });
      expect(answer.status).not.toBe(STATUS.success);
    } else {
      expect(page.status).toBe(400);
    }
    expect((await signInAt(signer, a.browser, await signer.redirectRequest())).prompts).toEqual([]);
  });
});
