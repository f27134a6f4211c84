import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { KeyStore, SigningKey } from '../../keys/keystore.js';
import type { SamlCertificates } from '../../keys/saml-certificates.js';
import { CliError, withServices } from '../context.js';
import { print, printJson, printTable } from '../io.js';
import { record } from '../record.js';

/** What may be shown of a signing key: never the private JWK. */
interface KeySummary {
  kid: string;
  alg: string;
  created: string;
  current: boolean;
}

/**
 * `current` is the key that signs now for its algorithm; newer keys are published and sign once active. SAML signing
 * certificates are listed with the algorithm `SAML` and their certificate's SHA-256 as kid; the keys that sign the
 * session cookies with `cookie` and an id made from their hash (never the key).
 */
function summarise(store: KeyStore, saml: SamlCertificates): KeySummary[] {
  const keys = store.signingKeys();
  const active = new Set(
    ['RS256', 'ES256'].map((alg) => store.activeKey(alg as SigningKey['alg'], keys)?.kid),
  );
  const certificates = saml.list();
  const activeCertificate = saml.active(certificates)?.id;
  return [
    ...keys.map((k) => ({ kid: k.kid, alg: k.alg, created: k.created, current: active.has(k.kid) })),
    ...certificates.map((c) => ({
      kid: c.id,
      alg: 'SAML',
      created: c.created,
      current: c.id === activeCertificate,
    })),
    ...store.cookieKeys().map((k, i) => ({ kid: k.id, alg: 'cookie', created: k.created, current: i === 0 })),
  ];
}

export function registerKeysCommands(program: Command): void {
  const keys = program
    .command('keys')
    .description(
      'manage token signing keys, SAML certificates and cookie keys (a running server notices changes to the keys folder)',
    );

  keys
    .command('list')
    .description('list signing keys; the current key of each algorithm signs, all are published')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const summary = summarise(services.keys, services.samlCertificates);
        if (opts.json) return printJson(summary);
        printTable(
          ['KID', 'ALG', 'CREATED', 'CURRENT'],
          summary.map((k) => [k.kid, k.alg, k.created, k.current ? 'current' : '']),
          'No signing keys.',
        );
      });
    });

  keys
    .command('rotate')
    .description(
      'add a new key for each algorithm, a SAML certificate and a cookie key: published at once, they sign after keys.activation_delay; the old keys stay published',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const added = await services.keys.rotate();
        const certificate = await services.samlCertificates.add();
        const cookieKey = await services.keys.rotateCookieKey();
        try {
          await record(services, {
            action: 'keys.rotated',
            details: {
              kids: added.map((k) => k.kid),
              saml_certificate: certificate.id,
              cookie_key: cookieKey.id,
            },
          });
        } catch (err) {
          // Nothing happens unrecorded: withdraw the new keys (not used yet) when the event cannot be stored.
          for (const key of added)
            fs.rmSync(path.join(services.keys.dir, `signing-${key.kid}.json`), { force: true });
          services.samlCertificates.withdraw(certificate.id);
          await services.keys.retireCookieKey(cookieKey.id, { withdraw: true });
          throw err;
        }
        for (const key of added) print(`New ${key.alg} signing key: ${key.kid}`);
        print(`New SAML signing certificate: ${certificate.id}`);
        print(`New cookie key: ${cookieKey.id}`);
        const delay = services.keys.activationDelay;
        print(
          delay > 0
            ? `They are published now and sign from ${new Date(Date.parse(added[0]!.created) + delay * 1000).toISOString()}, once applications know them.`
            : 'They sign from now on.',
        );
        print(
          'The previous keys still verify tokens; retire them with "poort keys retire <kid>" once those tokens expired.',
        );
      });
    });

  keys
    .command('retire')
    .description('remove an old key from signing and from the published key set')
    .argument('<kid>', 'as shown by "poort keys list" (a kid that starts with - works as it is)')
    .action(async (kid: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        // Refuse before recording: the event is written first, since a retired key cannot be put back.
        const keys = services.keys.signingKeys();
        const key = keys.find((k) => k.kid === kid);
        const cookieKey = services.keys.cookieKeys().find((k) => k.id === kid);
        if (!key && cookieKey) {
          if (services.keys.cookieKeys()[0]!.id === kid)
            throw new CliError(
              `${kid} is the current cookie key; run "poort keys rotate" and retire it once the new key signs`,
            );
          await record(services, { action: 'keys.retired', details: { kid, alg: 'cookie' } });
          await services.keys.retireCookieKey(kid);
          print(`Retired cookie key ${kid}: sessions whose cookies only it signed have ended`);
          return;
        }
        const saml = services.samlCertificates;
        const certificates = saml.list();
        if (!key && certificates.some((c) => c.id === kid)) {
          if (saml.active(certificates)?.id === kid)
            throw new CliError(
              `${kid} is the current SAML signing certificate; run "poort keys rotate" and retire it once the new one signs`,
            );
          await record(services, { action: 'keys.retired', details: { kid, alg: 'SAML' } });
          saml.retire(kid);
          print(`Retired SAML signing certificate ${kid}`);
          return;
        }
        if (!key) throw new CliError(`no signing key with kid ${kid}`);
        if (services.keys.activeKey(key.alg, keys)?.kid === kid) {
          throw new CliError(
            `${kid} is the current ${key.alg} signing key; run "poort keys rotate" and retire it once the new key signs`,
          );
        }
        await record(services, { action: 'keys.retired', details: { kid, alg: key.alg } });
        services.keys.retire(kid);
        print(`Retired ${key.alg} signing key ${key.kid}`);
      });
    });
}
