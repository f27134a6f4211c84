import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser } from '../helpers/browser.js';
import type { TestPoort } from '../helpers/poort.js';
import { readSamlPost, sendAuthnRequest, signInAt, walk } from '../helpers/saml-browser.js';
import { auditCount, refusalProblems, startSamlPoort } from '../helpers/saml-poort.js';
import { fetchIdpMetadata, ServiceProvider, type ValidatedResponse } from '../helpers/saml-sp.js';
import { decodeSamlMessage, NAMEID_FORMAT, readStatus, STATUS } from '../helpers/saml-xml.js';
import { xmlsecVerify } from '../helpers/xmlsec.js';

const PASSWORD = 'correct horse battery staple';
const ANNA = { username: 'anna', password: PASSWORD };
const BOB = { username: 'bob', password: PASSWORD };
const PASSWORD_PROTECTED_TRANSPORT = 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport';

/**
 * SP-initiated and IdP-initiated single sign-on against a real Poort, with @node-saml/node-saml as the service
 * provider (signatures, audience, InResponseTo, time conditions) and xmlsec1 checking every signature again.
 */
describe('SAML single sign-on', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let annaId: string;
  /** signs its requests; Poort signs its responses too */
  let alpha: ServiceProvider;
  /** unsigned requests, default settings */
  let beta: ServiceProvider;
  /** emailAddress NameID and attributes under its own names */
  let mail: ServiceProvider;
  let unspecified: ServiceProvider;
  /** two ACS endpoints, chosen by index or URL */
  let multi: ServiceProvider;
  const SECOND_ACS = 'http://127.0.0.1:9/multi/acs-2';

  beforeAll(async () => {
    alpha = await ServiceProvider.create({ entityId: 'https://alpha.example.test/sp', signRequests: true });
    beta = await ServiceProvider.create({ entityId: 'https://beta.example.test/sp' });
    mail = await ServiceProvider.create({
      entityId: 'https://mail.example.test/sp',
      nameIdFormat: 'emailAddress',
    });
    unspecified = await ServiceProvider.create({
      entityId: 'https://unspecified.example.test/sp',
      nameIdFormat: 'unspecified',
    });
    multi = await ServiceProvider.create({
      entityId: 'https://multi.example.test/sp',
      extraAcsUrls: [SECOND_ACS],
    });
    poort = await startSamlPoort([
      { sp: multi },
      { sp: alpha, settings: { name: 'Alpha', sign_response: true } },
      { sp: beta },
      {
        sp: mail,
        settings: {
          name_id_format: 'emailAddress',
          attributes: [
            { source: 'email', name: 'urn:oid:0.9.2342.19200300.100.1.3' },
            { source: 'given_name', name: 'givenName' },
            { source: 'family_name', name: 'sn' },
            { source: 'username', name: 'uid' },
            { name: 'role', value: 'staff & <friends> "all"' },
          ],
        },
      },
      { sp: unspecified, settings: { name_id_format: 'unspecified' } },
    ]);
    annaId = await poort.addUser({
      username: 'anna',
      password: PASSWORD,
      name: 'Anna de Vries',
      email: 'anna@example.org',
      groups: ['staff', 'finance'],
    });
    await poort.services.users.update('anna', { givenName: 'Anna', familyName: 'de Vries' });
    await poort.addUser({ username: 'bob', password: PASSWORD, email: 'bob@example.org' });
  }, 120_000);
  afterAll(async () => poort?.stop());

  /** A fresh browser signs in at `sp` with the password and `sp` validates what comes back. */
  async function freshSignIn(sp: ServiceProvider, credentials = ANNA, responseSigned = false) {
    const browser = new Browser();
    const request = await sp.redirectRequest();
    const walked = await signInAt(sp, browser, request, credentials);
    expect(walked.prompts).toEqual(['password']);
    const result = await sp.validateResponse(walked.post.fields as { SAMLResponse: string }, {
      responseSigned,
    });
    return { browser, request, result };
  }

  function expectFreshTimes(result: ValidatedResponse, before: number) {
    const now = Date.now();
    const notBefore = Date.parse(result.notBefore!);
    const notOnOrAfter = Date.parse(result.notOnOrAfter!);
    expect(notBefore).toBeLessThanOrEqual(now);
    expect(notBefore).toBeGreaterThan(before - 5 * 60_000);
    expect(notOnOrAfter).toBeGreaterThan(now);
    expect(notOnOrAfter - now).toBeLessThanOrEqual(10 * 60_000);
    const authnInstant = Date.parse(result.authnInstant!);
    expect(authnInstant).toBeGreaterThanOrEqual(before - 1000);
    expect(authnInstant).toBeLessThanOrEqual(now);
  }

  it('publishes metadata: entityID, signing certificate, SSO and SLO over both bindings', async () => {
    const res = await fetch(`${poort.issuer}/saml/metadata`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/xml/);
    const idp = await fetchIdpMetadata(poort.issuer);
    expect(idp.entityId).toBe(`${poort.issuer}/saml/metadata`);
    expect(idp.signingCertificates.length).toBeGreaterThanOrEqual(1);
    expect(idp.sso).toEqual({ redirect: `${poort.issuer}/saml/sso`, post: `${poort.issuer}/saml/sso` });
    expect(idp.slo).toEqual({ redirect: `${poort.issuer}/saml/slo`, post: `${poort.issuer}/saml/slo` });
    expect(idp.nameIdFormats).toEqual(
      expect.arrayContaining([
        NAMEID_FORMAT.persistent,
        NAMEID_FORMAT.emailAddress,
        NAMEID_FORMAT.unspecified,
      ]),
    );
  });

  it('signs in over HTTP-Redirect through the password form; node-saml and xmlsec1 accept the signed response', async () => {
    const before = Date.now();
    const browser = new Browser();
    const request = await alpha.redirectRequest({ relayState: 'r-1/ä?&x' });
    const first = await browser.navigate(request.url);
    const walked = await walk(browser, first, ANNA);
    expect(walked.prompts).toEqual(['password']);
    expect(walked.post?.action).toBe(alpha.acsUrl);
    expect(walked.post?.method).toBe('post');
    expect(walked.post?.RelayState).toBe('r-1/ä?&x');

    const result = await alpha.validateResponse(walked.post!.fields as { SAMLResponse: string }, {
      responseSigned: true,
    });
    expect(result.responseSigned).toBe(true);
    expect(result.encrypted).toBe(false);
    expect(result.inResponseTo).toBe(request.id);
    expect(result.relayState).toBe('r-1/ä?&x');
    expect(result.audiences).toEqual([alpha.entityId]);
    expect(result.recipient).toBe(alpha.acsUrl);
    expect(result.profile.issuer).toBe(`${poort.issuer}/saml/metadata`);
    expect(result.nameIdFormat).toBe(NAMEID_FORMAT.persistent);
    expect(result.nameId).not.toContain('anna');
    expect(result.nameId).not.toContain(annaId);
    expect(result.nameId.length).toBeGreaterThanOrEqual(16);
    expect(result.sessionIndex).toBeTruthy();
    expect(result.authnContextClassRef).toBe(PASSWORD_PROTECTED_TRANSPORT);
    expectFreshTimes(result, before);
    // default attributes: e-mail, display name, groups under their plain names
    expect(result.attributes.email).toEqual(['anna@example.org']);
    expect(result.attributes.name).toEqual(['Anna de Vries']);
    expect([...result.attributes.groups!].sort()).toEqual(['finance', 'staff']);

    const cert = alpha.idp.signingCertificates[0]!;
    const response = await xmlsecVerify(result.responseXml, cert, 'Response');
    expect(response.output).toMatch(/OK/);
    expect(response.ok).toBe(true);
    const assertion = await xmlsecVerify(result.responseXml, cert, 'Assertion');
    expect(assertion.output).toMatch(/OK/);
    expect(assertion.ok).toBe(true);
  });

  it('signs in over HTTP-POST, signed and unsigned requests; the assertion alone is signed by default', async () => {
    for (const sp of [alpha, beta]) {
      const browser = new Browser();
      const request = await sp.postRequest({ relayState: 'post-state' });
      const walked = await signInAt(sp, browser, request, ANNA);
      expect(walked.prompts).toEqual(['password']);
      expect(walked.post.RelayState).toBe('post-state');
      const result = await sp.validateResponse(walked.post.fields as { SAMLResponse: string }, {
        responseSigned: sp === alpha,
      });
      expect(result.inResponseTo).toBe(request.id);
      expect(result.responseSigned).toBe(sp === alpha);
      expect(result.audiences).toEqual([sp.entityId]);
      const assertion = await xmlsecVerify(result.responseXml, sp.idp.signingCertificates[0]!, 'Assertion');
      expect(assertion.ok).toBe(true);
    }
  });

  it("refuses a response with another SP's audience: node-saml checks what Poort put in", async () => {
    const { result } = await freshSignIn(beta);
    // beta's assertion, presented to alpha as if it were alpha's: audience and destination do not match
    const forged = await ServiceProvider.create({ entityId: alpha.entityId, acsUrl: beta.acsUrl });
    await forged.connect(alpha.idp);
    const encoded = Buffer.from(result.responseXml).toString('base64');
    await expect(forged.validateResponse({ SAMLResponse: encoded }, { unsolicited: true })).rejects.toThrow(
      /audience mismatch/,
    );
  });

  it('gives a persistent NameID that is stable for a user at an SP, and differs between SPs and users', async () => {
    const first = (await freshSignIn(beta)).result;
    const again = (await freshSignIn(beta)).result;
    const elsewhere = (await freshSignIn(alpha, ANNA, true)).result;
    const bob = (await freshSignIn(beta, BOB)).result;
    expect(again.nameId).toBe(first.nameId);
    expect(again.sessionIndex).not.toBe(first.sessionIndex);
    expect(elsewhere.nameId).not.toBe(first.nameId);
    expect(bob.nameId).not.toBe(first.nameId);
    for (const r of [first, elsewhere, bob]) expect(r.nameIdFormat).toBe(NAMEID_FORMAT.persistent);
  });

  it('gives an emailAddress NameID and releases the configured attributes under their names, escaped', async () => {
    const { result } = await freshSignIn(mail);
    expect(result.nameIdFormat).toBe(NAMEID_FORMAT.emailAddress);
    expect(result.nameId).toBe('anna@example.org');
    expect(result.attributes).toEqual({
      'urn:oid:0.9.2342.19200300.100.1.3': ['anna@example.org'],
      givenName: ['Anna'],
      sn: ['de Vries'],
      uid: ['anna'],
      role: ['staff & <friends> "all"'],
    });
    // the fixed value is text in the XML, never markup
    expect(result.sentAssertionXml).not.toContain('<friends>');
    expect(result.profile.email).toBe('anna@example.org');
  });

  it('gives an unspecified NameID, the same for the same user', async () => {
    const first = (await freshSignIn(unspecified)).result;
    const second = (await freshSignIn(unspecified)).result;
    expect(first.nameIdFormat).toBe(NAMEID_FORMAT.unspecified);
    expect(first.nameId).toBeTruthy();
    expect(second.nameId).toBe(first.nameId);
  });

  it('signs in once for several SPs: the second SP gets an assertion without a password prompt', async () => {
    const { browser, result: first } = await freshSignIn(beta);
    const request = await mail.postRequest();
    const walked = await signInAt(mail, browser, request, ANNA);
    expect(walked.prompts).toEqual([]);
    const second = await mail.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(second.nameId).toBe('anna@example.org');
    expect(second.authnInstant).toBe(first.authnInstant);
    expect(second.authnContextClassRef).toBe(PASSWORD_PROTECTED_TRANSPORT);
  });

  it('starts single sign-on at the IdP (/saml/init) with RelayState, unsolicited', async () => {
    const browser = new Browser();
    const init = `${poort.issuer}/saml/init?sp=${encodeURIComponent(beta.entityId)}&RelayState=x`;
    const walked = await walk(browser, await browser.navigate(init), ANNA);
    expect(walked.prompts).toEqual(['password']);
    expect(walked.post?.action).toBe(beta.acsUrl);
    expect(walked.post?.RelayState).toBe('x');
    const result = await beta.validateResponse(walked.post!.fields as { SAMLResponse: string }, {
      unsolicited: true,
    });
    expect(result.inResponseTo).toBeUndefined();
    expect(result.audiences).toEqual([beta.entityId]);
    expect(result.authnContextClassRef).toBe(PASSWORD_PROTECTED_TRANSPORT);

    // with the session now open, no prompt at all
    const again = await walk(browser, await browser.navigate(init), ANNA);
    expect(again.prompts).toEqual([]);
    await beta.validateResponse(again.post!.fields as { SAMLResponse: string }, { unsolicited: true });
  });

  it('refuses IdP-initiated sign-on for an unknown SP with a 400 page', async () => {
    const browser = new Browser();
    const page = await browser.navigate(
      `${poort.issuer}/saml/init?sp=${encodeURIComponent('https://unknown.example.test/sp')}`,
    );
    expect(refusalProblems(page)).toEqual([]);
  });

  it('asks for the password again when the SP sends ForceAuthn', async () => {
    const { browser, result: first } = await freshSignIn(beta);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const request = await beta.redirectRequest({ forceAuthn: true });
    const walked = await signInAt(beta, browser, request, ANNA);
    expect(walked.prompts).toEqual(['password']);
    const result = await beta.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(Date.parse(result.authnInstant!)).toBeGreaterThan(Date.parse(first.authnInstant!));
  });

  it('answers IsPassive without a session with Responder/NoPassive and no assertion', async () => {
    const browser = new Browser();
    const request = await beta.redirectRequest({ passive: true, relayState: 'p' });
    const walked = await sendAuthnRequest(browser, request);
    expect(walked.prompts).toEqual([]);
    expect(walked.post?.action).toBe(beta.acsUrl);
    expect(walked.post?.RelayState).toBe('p');
    const xml = decodeSamlMessage(walked.post!.SAMLResponse!, 'post');
    expect(readStatus(xml)).toMatchObject({ code: STATUS.responder, subCode: STATUS.noPassive });
    expect(xml).not.toMatch(/Assertion/);
    expect(xml).toContain(`InResponseTo="${request.id}"`);
    // the status response is signed: node-saml checks the signature, then reports that no one is signed in
    await expect(beta.validateResponse(walked.post!.fields as { SAMLResponse: string })).rejects.toThrow(
      /no profile/,
    );
    expect((await xmlsecVerify(xml, beta.idp.signingCertificates[0]!, 'Response')).ok).toBe(true);
  });

  it('answers IsPassive with a session with an assertion, without prompting', async () => {
    const { browser } = await freshSignIn(beta);
    const request = await beta.redirectRequest({ passive: true });
    const walked = await signInAt(beta, browser, request);
    expect(walked.prompts).toEqual([]);
    const result = await beta.validateResponse(walked.post.fields as { SAMLResponse: string });
    expect(result.inResponseTo).toBe(request.id);
  });

  it('audits each request and each assertion issued, naming the SP', async () => {
    const requests = await auditCount(poort, 'saml.request', alpha.entityId);
    const issued = await auditCount(poort, 'saml.assertion.issued', alpha.entityId);
    await freshSignIn(alpha, ANNA, true);
    expect(await auditCount(poort, 'saml.request', alpha.entityId)).toBe(requests + 1);
    expect(await auditCount(poort, 'saml.assertion.issued', alpha.entityId)).toBe(issued + 1);
    const [event] = await poort.services.audit.query({
      action: 'saml.assertion.issued',
      app: alpha.entityId,
      limit: 1,
    });
    expect(event!.event.outcome).toBe('success');
    expect(JSON.stringify(event)).toContain('anna');
    expect(event!.event.details).toMatchObject({
      name_id_format: 'persistent',
      authn_context: PASSWORD_PROTECTED_TRANSPORT,
      encrypted: false,
    });
    // the trail records what happened, never the messages themselves
    const all = JSON.stringify(await poort.services.audit.query({ limit: 10_000 }));
    expect(all).not.toMatch(/SAMLResponse|SAMLRequest|<samlp?:|PHNhbWxw/);
  });

  it('never shows a SAMLResponse form before the sign-in is complete', async () => {
    const browser = new Browser();
    const page = await browser.navigate((await beta.redirectRequest()).url);
    expect(readSamlPost(page)).toBeUndefined();
    expect(page.status).toBe(200);
  });

  it('answers at the ACS the request names by index or URL, at the default one when it names none', async () => {
    const browser = new Browser();
    const cases = [
      { options: { acsIndex: 2 }, acs: SECOND_ACS },
      { options: { acsUrl: SECOND_ACS }, acs: SECOND_ACS },
      { options: { acsIndex: 1 }, acs: multi.acsUrl },
      { options: { acsIndex: null }, acs: multi.acsUrl },
    ];
    for (const { options, acs } of cases) {
      const request = await multi.redirectRequest(options);
      const walked = await walk(browser, await browser.navigate(request.url), ANNA);
      expect(walked.post?.action).toBe(acs);
      const result = await multi.validateResponse(walked.post!.fields as { SAMLResponse: string }, {
        acsUrl: acs,
      });
      expect(result.inResponseTo).toBe(request.id);
    }
    const unknownIndex = await browser.navigate((await multi.redirectRequest({ acsIndex: 7 })).url);
    expect(refusalProblems(unknownIndex)).toEqual([]);
  });

  it('shows its pages in Dutch and English: the auto-submit page works without inline script', async () => {
    const en = JSON.parse(fs.readFileSync('locales/en/saml.json', 'utf8')) as Record<string, string>;
    const nl = JSON.parse(fs.readFileSync('locales/nl/saml.json', 'utf8')) as Record<string, string>;
    const escaped = (text: string) =>
      text.replace(/&/g, '&amp;').replace(/'/g, '&#39;').replace(/"/g, '&quot;');
    const dutch = new Browser({ 'accept-language': 'nl-NL,nl;q=0.9' });
    const walked = await signInAt(beta, dutch, await beta.redirectRequest(), ANNA);
    expect(walked.page.body).toMatch(/<html[^>]*lang="nl"/);
    expect(walked.page.body).toContain(escaped(nl['saml.post.submit']!));
    expect(walked.page.body).toMatch(/<button[^>]*type="submit"|<input[^>]*type="submit"/);
    for (const script of walked.page.body.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(script[1]).toMatch(/src="\/static\//);
      expect(script[2]!.trim()).toBe('');
    }
    expect(walked.page.headers.get('content-security-policy')).toMatch(/script-src[^;]*'self'/);
    expect(walked.page.headers.get('content-security-policy')).not.toMatch(/unsafe-inline/);

    const stranger = `${poort.issuer}/saml/init?sp=${encodeURIComponent('https://unknown.example.test/sp')}`;
    const refusedNl = await dutch.navigate(stranger);
    expect(refusedNl.status).toBe(400);
    expect(refusedNl.body).toContain(escaped(nl['saml.error.title']!));
    const refusedEn = await new Browser({ 'accept-language': 'en' }).navigate(stranger);
    expect(refusedEn.body).toContain(escaped(en['saml.error.title']!));
  });
});
