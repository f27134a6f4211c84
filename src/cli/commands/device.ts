import type { Command } from 'commander';
import { DeviceRegistry, normaliseFingerprint } from '../../policy/devices.js';
import { usageError, withServices } from '../context.js';
import { print, printJson, printTable } from '../io.js';
import { recorded, subject } from '../record.js';

export function registerDeviceCommands(program: Command): void {
  const device = program
    .command('device')
    .description('manage managed devices (device.managed in policies): known by their client certificate');

  device
    .command('add')
    .description('register a managed device by the SHA-256 fingerprint of its client certificate')
    .argument('<name>', 'letters, digits, space . _ : - (at most 128)')
    .requiredOption(
      '--cert-fingerprint <sha256>',
      'SHA-256 of the certificate, hex, colons optional (openssl x509 -noout -fingerprint -sha256)',
    )
    .option('--owner <username>', 'managed only when this user signs in on it (default: for anyone)')
    .action(async (name: string, opts: { certFingerprint: string; owner?: string }, cmd: Command) => {
      if (!normaliseFingerprint(opts.certFingerprint))
        usageError(cmd, '--cert-fingerprint expects a SHA-256 in hex: 64 digits, colons optional');
      await withServices(cmd, async (services) => {
        const owner = opts.owner ? await services.users.require(opts.owner) : undefined;
        const added = await recorded(services, async (db) => {
          const created = await new DeviceRegistry(db).add({
            name,
            certFingerprint: opts.certFingerprint,
            ownerId: owner?.id ?? null,
          });
          return {
            result: created,
            changes: [
              {
                action: 'device.added',
                ...(owner ? { subject: subject(owner) } : {}),
                details: {
                  device: created.name,
                  cert_fingerprint: created.certFingerprint,
                  ...(owner ? { owner: owner.username } : {}),
                },
              },
            ],
          };
        });
        print(`Added device ${added.name}${owner ? ` (managed for ${owner.username})` : ''}`);
      });
    });

  device
    .command('list')
    .description('list managed devices')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const [devices, users] = await Promise.all([
          new DeviceRegistry(services.db).list(),
          services.users.list(),
        ]);
        const usernames = new Map(users.map((u) => [u.id, u.username]));
        const rows = devices.map((d) => ({
          name: d.name,
          cert_fingerprint: d.certFingerprint,
          owner: d.ownerId ? (usernames.get(d.ownerId) ?? d.ownerId) : null,
          created_at: d.createdAt,
        }));
        if (opts.json) return printJson(rows);
        printTable(
          ['NAME', 'CERTIFICATE SHA-256', 'OWNER', 'ADDED'],
          rows.map((d) => [d.name, d.cert_fingerprint, d.owner ?? '(anyone)', d.created_at.slice(0, 10)]),
          'No managed devices. Add one with "poort device add".',
        );
      });
    });

  device
    .command('remove')
    .description('remove a managed device: its certificate no longer makes a device managed')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      await withServices(cmd, async (services) => {
        const removed = await recorded(services, async (db) => {
          const gone = await new DeviceRegistry(db).remove(name);
          return {
            result: gone,
            changes: [
              {
                action: 'device.removed',
                details: { device: gone.name, cert_fingerprint: gone.certFingerprint },
              },
            ],
          };
        });
        print(`Removed device ${removed.name}`);
      });
    });
}
