import { generate } from 'otplib';
import { expect } from 'vitest';
import { Browser, readForm, type Page } from './browser.js';
import { isPasswordForm, submitPassword } from './oidc.js';
import type { TestPoort } from './poort.js';

/**
 * Opens `path` of the administration console in `browser` and signs in with the password and the code of the
 * user's authenticator app (`step`: that many 30-second periods ahead, for a second sign-in of the same user, whose
 * current code was used already). Returns the page the console shows after its callback.
 */
export async function adminSignIn(
  poort: TestPoort,
  username: string,
  password: string,
  totpSecret: string,
  options: { browser?: Browser; path?: string; step?: number } = {},
): Promise<Page> {
  const browser = options.browser ?? new Browser();
  const start = await browser.navigate(`${poort.issuer}${options.path ?? '/admin'}`);
  expect(isPasswordForm(start)).toBe(true);
  const callbackUrl = `${poort.issuer}/admin/callback`;
  const mfa = await submitPassword(browser, start, username, password, callbackUrl);
  expect(mfa.url).toMatch(/\/mfa$/);
  const form = readForm(mfa);
  const code = await generate({
    secret: totpSecret,
    epoch: Math.floor(Date.now() / 1000) + (options.step ?? 0) * 30,
  });
  const back = await browser.navigate(form.action, { form: { ...form.fields, code } }, callbackUrl);
  expect(back.status).toBe(0);
  return browser.navigate(back.url);
}
