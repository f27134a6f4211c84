import { generate } from 'otplib';
import { expect } from 'vitest';
import { Browser, readForm, type Page } from './browser.js';
import { isPasswordForm, submitPassword } from './oidc.js';
import type { TestPoort } from './poort.js';

/**
 * Opens /account/security in `browser` and signs in: the password, then the code of the user's authenticator app
 * when given its secret (every visit asks for the factor of a user who has one). Returns the security page, and the
 * callback that set the account cookie.
 */
export async function accountSignIn(
  poort: TestPoort,
  username: string,
  password: string,
  options: { totpSecret?: string; browser?: Browser } = {},
): Promise<{ page: Page; callback: Page }> {
  const browser = options.browser ?? new Browser();
  const start = await browser.navigate(`${poort.issuer}/account/security`);
  expect(isPasswordForm(start)).toBe(true);
  const callbackUrl = `${poort.issuer}/account/callback`;
  let back = await submitPassword(browser, start, username, password, callbackUrl);
  if (options.totpSecret) {
    expect(back.url).toMatch(/\/mfa$/);
    const form = readForm(back);
    back = await browser.navigate(
      form.action,
      { form: { ...form.fields, code: await generate({ secret: options.totpSecret }) } },
      callbackUrl,
    );
  }
  expect(back.status).toBe(0);
  const callback = await browser.request(back.url);
  expect(callback.status).toBe(303);
  const page = await browser.navigate(new URL(callback.headers.get('location')!, back.url).href);
  return { page, callback };
}

/** Fills in the reset link's page: the new password, and again (`repeat`, the same unless given). */
export async function chooseNewPassword(
  browser: Browser,
  page: Page,
  password: string,
  repeat = password,
): Promise<Page> {
  const form = readForm(page);
  return browser.navigate(form.action, { form: { ...form.fields, password, repeat } });
}
