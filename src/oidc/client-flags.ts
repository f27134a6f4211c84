import type { Client } from 'oidc-provider';

/** Poort's own client metadata (`poort_*`); oidc-provider may keep extra properties snake- or camel-cased. */
export function clientFlag(client: Client, name: 'poort_first_party' | 'poort_require_pkce'): boolean {
  const record = client as unknown as Record<string, unknown>;
  const camel = name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase());
  return record[name] === true || record[camel] === true;
}
