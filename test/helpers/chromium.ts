import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type CDPSession, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Debian's Chromium, headless, with nothing that reaches out to the network on its own. */
export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM_PATH))
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: install it with \`apt-get install -y chromium\``);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A credential as CDP's WebAuthn domain shows it (binary fields in standard base64). */
export interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
  backupEligibility?: boolean;
  backupState?: boolean;
  userName?: string;
  userDisplayName?: string;
}

/** A page with a platform authenticator that holds passkeys, verifies its user and answers without a prompt. */
export interface AuthenticatorPage {
  context: BrowserContext;
  page: Page;
  cdp: CDPSession;
  authenticatorId: string;
  credentials(): Promise<VirtualCredential[]>;
  removeCredential(credentialId: string): Promise<void>;
  addCredential(credential: VirtualCredential): Promise<void>;
  close(): Promise<void>;
}

/** A fresh context (its own cookies) and page with a virtual CTAP2 authenticator attached over CDP. */
export async function pageWithAuthenticator(browser: Browser): Promise<AuthenticatorPage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    context,
    page,
    cdp,
    authenticatorId,
    async credentials() {
      return (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    },
    async removeCredential(credentialId) {
      await cdp.send('WebAuthn.removeCredential', { authenticatorId, credentialId });
    },
    async addCredential(credential) {
      await cdp.send('WebAuthn.addCredential', { authenticatorId, credential });
    },
    async close() {
      await context.close();
    },
  };
}

/**
 * Catches the application's callback (`redirect`, an address nothing listens on) in `page`: each call of the returned
 * function waits for the next one and gives its URL, once the page is there. Chromium sometimes asks for a caught
 * navigation a second time; that is not a new callback, and waiting for the page keeps it from cutting short the
 * test's next `page.goto`.
 */
export async function catchCallbacks(page: Page, redirect: string): Promise<() => Promise<string>> {
  let resolve: (url: string) => void = () => {};
  let next = new Promise<string>((r) => (resolve = r));
  let last = '';
  await page.route(`${redirect}**`, async (route) => {
    const url = route.request().url();
    if (url !== last) resolve((last = url));
    await route.fulfill({ status: 200, contentType: 'text/plain', body: 'ok' });
  });
  return async () => {
    const url = await next;
    next = new Promise<string>((r) => (resolve = r));
    await page.waitForURL(url);
    return url;
  };
}
