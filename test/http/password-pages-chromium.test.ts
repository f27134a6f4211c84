import type { Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PasswordResets, resetLinkPath } from '../../src/account/password-reset.js';
import { launchChromium } from '../helpers/chromium.js';
import { FAST_ARGON2 } from '../helpers/oidc.js';
import { startPoort, type TestPoort } from '../helpers/poort.js';

const PASSWORD = 'a passphrase nobody guesses';
const NEW = 'seven purple hedgehogs in Leiden';

/**
 * The pages where a password is chosen, as a person sees them in Chromium with Poort's stylesheet: the username a
 * password manager files the new password under stays out of sight, and the fields a person fills in are there.
 */
describe('the password pages in Chromium', { timeout: 90_000 }, () => {
  let poort: TestPoort;
  let chromium: Chromium;

  beforeAll(async () => {
    poort = await startPoort(FAST_ARGON2);
    chromium = await launchChromium();
  }, 120_000);
  afterAll(async () => {
    await chromium?.close();
    await poort?.stop();
  });

  it('shows no username box on the reset link’s page, and the new password sets', async () => {
    const userId = await poort.addUser({ username: 'anna', password: PASSWORD, email: 'anna@example.org' });
    const { token } = await new PasswordResets(poort.services.kv, poort.services.hasher).issue(userId, 600);
    const context = await chromium.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${poort.issuer}${resetLinkPath(token)}`);
      expect(await page.locator('input[name=username]').isVisible()).toBe(false);
      await page.getByLabel('New password', { exact: true }).fill(NEW);
      await page.getByLabel('Repeat the new password').fill(NEW);
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.getByRole('heading', { name: 'Your password has been changed' }).waitFor();
    } finally {
      await context.close();
    }
  });

  it('shows no username box on the account’s password page, and the focus starts at the current password', async () => {
    await poort.addUser({ username: 'bram', password: PASSWORD, email: 'bram@example.org' });
    const context = await chromium.newContext();
    const page = await context.newPage();
    try {
      await page.goto(`${poort.issuer}/account/security`);
      await page.getByLabel('Username').fill('bram');
      await page.getByLabel('Password', { exact: true }).fill(PASSWORD);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByRole('link', { name: 'Change your password' }).click();
      await page.getByRole('heading', { name: 'Change your password' }).waitFor();
      expect(await page.locator('input[name=username]').isVisible()).toBe(false);
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('current');
      await page.getByLabel('Current password').fill(PASSWORD);
      await page.getByLabel('New password', { exact: true }).fill(NEW);
      await page.getByLabel('Repeat the new password').fill(NEW);
      await page.getByLabel('Sign out on all devices').uncheck();
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.getByText('Your password is changed.').waitFor();
      expect(await poort.services.directory.authenticate('bram', NEW)).toMatchObject({ ok: true });
    } finally {
      await context.close();
    }
  });
});
