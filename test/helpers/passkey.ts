import crypto from 'node:crypto';
import { translator } from '../../src/http/i18n.js';
import { renderPage } from '../../src/http/render.js';
import type { EnrolContext, FactorRecord } from '../../src/mfa/factor.js';
import type { WebauthnFactor } from '../../src/mfa/webauthn/factor.js';
import type { AuthenticatorPage } from './chromium.js';
import type { TestPoort } from './poort.js';

/**
 * Adds a passkey the way the enrolment pages do: `enrolment.begin`'s view rendered on Poort's origin (served by the
 * test, under Poort's own CSP `csp`) with public/webauthn.js creating the credential in the page's virtual
 * authenticator, the form's post handed to `finish`. Returns once the page has finished navigating, so the caller's
 * next `goto` is not interrupted by the form's post.
 */
export async function enrolPasskey(
  poort: TestPoort,
  webauthn: WebauthnFactor,
  csp: string,
  auth: AuthenticatorPage,
  userId: string,
  name?: string,
): Promise<FactorRecord> {
  const pageUrl = `${poort.issuer}/test-enrol/page`;
  const finishUrl = `${poort.issuer}/test-enrol/finish`;
  const ctx: EnrolContext = {
    user: (await poort.services.directory.findById(userId))!,
    binding: `enrol-${crypto.randomUUID()}`,
    action: finishUrl,
    csrf: 'not-checked-here',
    ip: '127.0.0.1',
    organisation: 'Poort test',
    origin: poort.issuer,
  };
  const begun = await webauthn.enrolment.begin(ctx, {});
  const html = `<!doctype html><html lang="en"><head><title>Add a passkey</title></head><body>${renderPage(
    begun.view,
    { lang: 'en', t: translator('en'), organisation: 'Poort test', languages: [] },
    begun.vars,
  )}</body></html>`;
  await auth.page.route(pageUrl, (route) =>
    route.fulfill({
      status: 200,
      contentType: 'text/html',
      headers: { 'content-security-policy': csp },
      body: html,
    }),
  );
  const posted = new Promise<string>((resolve) =>
    auth.page.route(finishUrl, async (route) => {
      resolve(route.request().postData() ?? '');
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'posted' });
    }),
  );
  await auth.page.goto(pageUrl);
  if (name !== undefined) await auth.page.getByLabel('Name (optional)').fill(name);
  await auth.page.getByRole('button', { name: 'Add passkey' }).click();
  const input = Object.fromEntries(new URLSearchParams(await posted));
  // The post is a navigation: let it finish before the routes go and before the caller navigates elsewhere.
  await auth.page.waitForURL(finishUrl);
  await auth.page.unroute(pageUrl);
  await auth.page.unroute(finishUrl);
  const result = await webauthn.enrolment.finish(ctx, begun.state, input);
  if (!result.ok) throw new Error(`enrolment failed: ${result.reason}`);
  return result.factor;
}
