import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import Provider from 'oidc-provider';
import providerStorage from 'oidc-provider/lib/helpers/als.js';
import { describe, expect, it } from 'vitest';
import { withoutProviderRequestStorage } from '../../src/oidc/request-context.js';

const lib = path.join(
  path.dirname(createRequire(import.meta.url).resolve('oidc-provider/package.json')),
  'lib',
);

function sources(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.[jt]s$/.test(e.name))
    .map((e) => path.join(e.parentPath, e.name));
}

describe("oidc-provider's request storage", () => {
  it('is left out: its run calls straight through, and Provider.ctx is undefined', () => {
    expect(withoutProviderRequestStorage()).toBe(true);
    const run = providerStorage.run as (
      store: unknown,
      fn: (...args: unknown[]) => unknown,
      ...args: unknown[]
    ) => unknown;
    expect(run({ request: 1 }, (a, b) => [a, b, Provider.ctx], 'a', 'b')).toEqual(['a', 'b', undefined]);
    expect(providerStorage.run({ request: 2 }, () => providerStorage.getStore())).toBeUndefined();
  });

  // A tripwire for upgrades: leaving the storage out is right only while nothing Poort relies on reads it.
  it('is read only where Poort does not need it', () => {
    const readers = sources(lib)
      .filter((file) => /import als from '[^']*als\.js'/.test(fs.readFileSync(file, 'utf8')))
      .map((file) => path.relative(lib, file))
      .sort();
    expect(
      readers,
      'oidc-provider reads its request storage in new places: check src/oidc/request-context.ts',
    ).toEqual([
      'helpers/client_id_metadata_document.js',
      'helpers/initialize_app.js',
      'models/base_token.js',
      'models/formats/jwt.js',
      'models/formats/opaque.js',
      'provider.js',
    ]);
    // the configuration hooks those places hand the request to (ttl is numbers only: src/config/schema.ts)
    const poort = sources(path.resolve('src'))
      .concat(sources(path.resolve('dist/src')))
      .filter((file) => !/request-context\.[jt]s$/.test(file))
      .filter((file) =>
        /Provider\.ctx|clientIdMetadataDocument|extraTokenClaims|bitsOfOpaqueRandomness|pairwiseIdentifier|customizers/.test(
          fs.readFileSync(file, 'utf8'),
        ),
      );
    expect(poort).toEqual([]);
  });
});
