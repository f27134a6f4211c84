import { generate } from 'otplib';
import { decodeEntities, readForm, type Browser, type Page } from './browser.js';
import { isPasswordForm } from './oidc.js';
import type { PostRequest, RedirectRequest, ServiceProvider } from './saml-sp.js';

/** The auto-submitting page that carries a SAML message to the service provider. */
export interface SamlPost {
  action: string;
  method: string;
  fields: Record<string, string>;
  SAMLResponse?: string;
  SAMLRequest?: string;
  RelayState?: string;
}

/** The form on `page` that posts a SAMLResponse or SAMLRequest, if there is one. */
export function readSamlPost(page: Page): SamlPost | undefined {
  if (page.status !== 200) return undefined;
  const match = [...page.body.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)].find((f) =>
    /name="SAML(Response|Request)"/.test(f[2]!),
  );
  if (!match) return undefined;
  const form = readForm({ ...page, body: match[0] });
  return {
    action: form.action,
    method: decodeEntities(/method="([^"]*)"/i.exec(match[1]!)?.[1] ?? 'get').toLowerCase(),
    fields: form.fields,
    SAMLResponse: form.fields.SAMLResponse,
    SAMLRequest: form.fields.SAMLRequest,
    RelayState: form.fields.RelayState,
  };
}

/** Whether a page is Poort's one-time code form (TOTP and other codes). */
export function isCodeForm(page: Page): boolean {
  return page.status === 200 && /autocomplete="one-time-code"/.test(page.body);
}

/** The code an authenticator app shows now, or `steps` periods of 30 s away. */
export function totpCode(secret: string, steps = 0): Promise<string> {
  return generate({ secret, epoch: Math.floor(Date.now() / 1000) + steps * 30 });
}

export interface SignInAnswers {
  username: string;
  password: string;
  /** the TOTP secret, or a function giving the next code to type */
  totp?: string | (() => Promise<string>);
}

/** Where a walk through the sign-in pages ended, and what was asked on the way. */
export interface Walk {
  /** the auto-submit form to the SP when the walk reached one */
  post?: SamlPost;
  /** the last page (the auto-submit page, a sign-in page, or an error) */
  page: Page;
  /** the prompts answered, in order */
  prompts: Array<'password' | 'code'>;
  /** the SP endpoint the browser was redirected to, when `stopAt` was reached */
  redirectedTo?: string;
}

/**
 * Walks from `first` through Poort's sign-in pages as a person would: the password form (once, when answers are
 * given), the code form (when a TOTP is given), until the auto-submit page to the SP, an SP endpoint given as
 * `stopAt` (a redirect there), or a page it cannot answer.
 */
export async function walk(
  browser: Browser,
  first: Page,
  answers?: SignInAnswers,
  stopAt?: string,
): Promise<Walk> {
  let page = first;
  const prompts: Walk['prompts'] = [];
  for (let step = 0; step < 8; step++) {
    if (page.status === 0) return { page, prompts, redirectedTo: page.url };
    const post = readSamlPost(page);
    if (post) return { post, page, prompts };
    if (answers && isPasswordForm(page) && !prompts.includes('password')) {
      prompts.push('password');
      const form = readForm(page);
      page = await browser.navigate(
        form.action,
        { form: { ...form.fields, username: answers.username, password: answers.password } },
        stopAt,
      );
      continue;
    }
    if (answers?.totp && isCodeForm(page) && !prompts.includes('code')) {
      prompts.push('code');
      const code = typeof answers.totp === 'string' ? await totpCode(answers.totp) : await answers.totp();
      const form = readForm(page);
      page = await browser.navigate(form.action, { form: { ...form.fields, code } }, stopAt);
      continue;
    }
    return { page, prompts };
  }
  throw new Error(`the sign-in walk did not end:\n${page.url} ${page.status}\n${page.body.slice(0, 500)}`);
}

/** Sends an AuthnRequest through the browser (GET for Redirect, a form post for POST) and walks the sign-in. */
export async function sendAuthnRequest(
  browser: Browser,
  request: RedirectRequest | PostRequest,
  answers?: SignInAnswers,
): Promise<Walk> {
  const first =
    'url' in request
      ? await browser.navigate(request.url)
      : await browser.navigate(request.action, { form: request.fields });
  return walk(browser, first, answers);
}

/** SP-initiated single sign-on that must succeed: the walk must end on the auto-submit page to the SP's ACS. */
export async function signInAt(
  sp: ServiceProvider,
  browser: Browser,
  request: RedirectRequest | PostRequest,
  answers?: SignInAnswers,
): Promise<Walk & { post: SamlPost }> {
  const result = await sendAuthnRequest(browser, request, answers);
  if (!result.post?.SAMLResponse)
    throw new Error(
      `no SAMLResponse for ${sp.entityId}: ${result.page.status} ${result.page.url}\n${result.page.body.slice(0, 800)}`,
    );
  if (result.post.action !== sp.acsUrl)
    throw new Error(`the SAMLResponse form posts to ${result.post.action}, not to the ACS ${sp.acsUrl}`);
  if (result.post.method !== 'post') throw new Error(`the SAMLResponse form uses ${result.post.method}`);
  return result as Walk & { post: SamlPost };
}
