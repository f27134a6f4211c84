import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../helpers/chromium.js';
import type { TestPoort } from '../helpers/poort.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startSamlPoort } from '../helpers/saml-poort.js';
import { ServiceProvider } from '../helpers/saml-sp.js';

const PASSWORD = 'correct horse battery staple';

/**
 * The whole round trip in a real browser: the SP sends Chromium to Poort, a person types the password, and the
 * auto-submit page posts the SAMLResponse to the SP's ACS (a real listener) under Poort's strict CSP.
 */
describe('SAML single sign-on in Chromium', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let receiver: Receiver;
  let sp: ServiceProvider;
  let chromium: Chromium;

  beforeAll(async () => {
    receiver = await startReceiver();
    sp = await ServiceProvider.create({
      entityId: 'https://chromium.example.test/sp',
      acsUrl: receiver.url('/acs'),
      sloUrl: receiver.url('/slo'),
      signRequests: true,
    });
    poort = await startSamlPoort([{ sp }]);
    await poort.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org' });
    chromium = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await chromium?.close();
    await poort?.stop();
    await receiver?.close();
  });

  it('posts the SAMLResponse to the ACS by itself after the password is typed', async () => {
    const context = await chromium.newContext();
    const page = await context.newPage();
    const blocked: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) blocked.push(m.text());
    });
    try {
      const request = await sp.redirectRequest({ relayState: 'chromium-state' });
      await page.goto(request.url);
      await page.getByLabel('Username').fill('anna');
      await page.getByLabel('Password').fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();

      const posted = await receiver.waitFor('/acs', 30_000);
      expect(posted.method).toBe('POST');
      const fields = Object.fromEntries(new URLSearchParams(posted.body)) as {
        SAMLResponse: string;
        RelayState?: string;
      };
      expect(fields.RelayState).toBe('chromium-state');
      const result = await sp.validateResponse(fields);
      expect(result.inResponseTo).toBe(request.id);
      expect(result.attributes.email).toEqual(['anna@example.org']);
      expect(blocked).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
