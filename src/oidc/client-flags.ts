import type { Client } from 'oidc-provider';

/** Poort's own client metadata (`poort_*`): oidc-provider may keep extra properties snake- or camel-cased. */
export function clientField(client: Client | Record<string, unknown>, name: `poort_${string}`): unknown {
  const record = client as unknown as Record<string, unknown>;
  return record[name] ?? record[name.replace(/_([a-z])/g, (_m, c: string) => c.toUpperCase())];
}

export function clientFlag(client: Client, name: 'poort_first_party' | 'poort_require_pkce'): boolean {
  return clientField(client, name) === true;
}
