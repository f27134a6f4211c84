import fs from 'node:fs';
import type { Page } from './browser.js';
import { FAST_ARGON2 } from './oidc.js';
import { startPoort, tempDir, type TestPoort } from './poort.js';
import type { ServiceProvider } from './saml-sp.js';

/** A service provider declared in poort.yaml: its metadata file and the per-SP settings (snake_case keys). */
export interface DeclaredSp {
  sp: ServiceProvider;
  settings?: Record<string, unknown>;
}

/**
 * Starts a real Poort with `declared` SPs in `saml.service_providers` (metadata written to files, as an operator
 * would), `samlSettings` for the other `saml` keys, and `yaml` for the rest; then connects each SP to the IdP's
 * published metadata.
 */
export async function startSamlPoort(
  declared: DeclaredSp[],
  options: { yaml?: string; saml?: Record<string, unknown> } = {},
): Promise<TestPoort> {
  const dir = tempDir('poort-saml-sps-');
  const serviceProviders = declared.map(({ sp, settings }) => ({
    metadata_file: sp.writeMetadata(dir),
    ...settings,
  }));
  const saml = { ...options.saml, service_providers: serviceProviders };
  let poort: TestPoort;
  try {
    poort = await startPoort(`${FAST_ARGON2}${options.yaml ?? ''}saml: ${JSON.stringify(saml)}\n`);
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  for (const { sp } of declared) await sp.connect(poort.issuer);
  const stop = poort.stop.bind(poort);
  return {
    ...poort,
    async stop() {
      await stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** How many audit events with this action (and application, and outcome) the trail holds. */
export async function auditCount(
  poort: TestPoort,
  action: string,
  app?: string,
  outcome?: 'success' | 'failure' | 'denied',
): Promise<number> {
  const filter = { action, ...(app ? { app } : {}), ...(outcome ? { outcome } : {}), limit: 10_000 };
  return (await poort.services.audit.query(filter)).length;
}

/**
 * What a refusal must look like: a 400 HTML page, no SAML message to any service provider, no stack trace.
 * Returns a list of what is wrong (empty when the refusal is right), so a test failure names it.
 */
export function refusalProblems(page: Page): string[] {
  const problems: string[] = [];
  if (page.status !== 400) problems.push(`status ${page.status}, not 400`);
  if (!(page.headers.get('content-type') ?? '').startsWith('text/html'))
    problems.push(`content-type ${page.headers.get('content-type')}`);
  if (/name="SAMLResponse"/.test(page.body)) problems.push('the page carries a SAMLResponse');
  if (/\bat [\w.<>]+ \(.*:\d+:\d+\)|node:internal|\/src\/saml\//.test(page.body))
    problems.push('the page shows a stack trace');
  return problems;
}
