import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, type Sandbox } from '../helpers/cli.js';

interface Device {
  name: string;
  cert_fingerprint: string;
  owner: string | null;
  created_at: string;
}

const COLONS =
  'C3:AB:8F:F1:37:20:E8:AD:90:47:DD:39:46:6B:3C:89:74:E5:92:C2:FA:38:3D:4A:39:60:71:4C:AE:F0:C4:F2';
const HEX = COLONS.replace(/:/g, '').toLowerCase();

// Each test runs the CLI several times; allow for a slow, busy machine.
describe('poort device', { timeout: 60_000 }, () => {
  let box: Sandbox;
  const devices = async () => JSON.parse((await box.run(['device', 'list', '--json'])).stdout) as Device[];

  beforeAll(async () => {
    box = createSandbox();
    expect((await box.run(['user', 'add', 'alice', '--email', 'alice@example.org'])).code).toBe(0);
  });
  afterAll(() => box.remove());

  it('says there are none yet', async () => {
    const result = await box.run(['device', 'list']);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('No managed devices. Add one with "poort device add".\n');
  });

  it('adds a device by its certificate fingerprint (colons optional), for anyone or for one owner', async () => {
    const shared = await box.run(['device', 'add', 'Kiosk 1', '--cert-fingerprint', COLONS]);
    expect(shared).toMatchObject({ code: 0, stdout: 'Added device Kiosk 1\n' });
    const owned = await box.run([
      'device',
      'add',
      'alice-laptop',
      '--cert-fingerprint',
      'ab'.repeat(32),
      '--owner',
      'Alice',
    ]);
    expect(owned).toMatchObject({ code: 0, stdout: 'Added device alice-laptop (managed for alice)\n' });
    expect(await devices()).toEqual([
      { name: 'Kiosk 1', cert_fingerprint: HEX, owner: null, created_at: expect.any(String) },
      {
        name: 'alice-laptop',
        cert_fingerprint: 'ab'.repeat(32),
        owner: 'alice',
        created_at: expect.any(String),
      },
    ]);
    const table = await box.run(['device', 'list']);
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+CERTIFICATE SHA-256\s+OWNER\s+ADDED$/);
    expect(table.stdout).toContain(`Kiosk 1       ${HEX}  (anyone)`);
  });

  it('records every change in the audit trail with the CLI as actor', async () => {
    const events = (
      await box.withDb((db) =>
        db
          .selectFrom('audit_events')
          .select('event')
          .where('action', 'like', 'device.%')
          .orderBy('seq')
          .execute(),
      )
    ).map((row) => JSON.parse(row.event) as Record<string, unknown>);
    expect(events).toEqual([
      expect.objectContaining({
        action: 'device.added',
        outcome: 'success',
        actor: expect.objectContaining({ type: 'cli' }),
        details: { device: 'Kiosk 1', cert_fingerprint: HEX },
      }),
      expect.objectContaining({
        action: 'device.added',
        subject: expect.objectContaining({ username: 'alice' }),
        details: { device: 'alice-laptop', cert_fingerprint: 'ab'.repeat(32), owner: 'alice' },
      }),
    ]);
  });

  it('refuses a duplicate name or certificate, a malformed fingerprint and an unknown owner', async () => {
    const [name, cert, malformed, owner, missing] = await Promise.all([
      box.run(['device', 'add', 'Kiosk 1', '--cert-fingerprint', 'cd'.repeat(32)]),
      box.run(['device', 'add', 'Kiosk 2', '--cert-fingerprint', HEX.toUpperCase()]),
      box.run(['device', 'add', 'Kiosk 3', '--cert-fingerprint', 'sha1:abcdef']),
      box.run(['device', 'add', 'Kiosk 4', '--cert-fingerprint', 'ef'.repeat(32), '--owner', 'nobody']),
      box.run(['device', 'add', 'Kiosk 5']),
    ]);
    expect(name).toMatchObject({ code: 1, stderr: 'poort: device Kiosk 1 already exists\n' });
    expect(cert).toMatchObject({ code: 1, stderr: 'poort: device Kiosk 1 has this certificate already\n' });
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('--cert-fingerprint expects a SHA-256 in hex');
    expect(owner).toMatchObject({ code: 1, stderr: 'poort: no user nobody\n' });
    expect(missing.code).toBe(2);
    expect((await devices()).map((d) => d.name)).toEqual(['Kiosk 1', 'alice-laptop']);
  });

  it('removes a device, and says so when there is no such device', async () => {
    const removed = await box.run(['device', 'remove', 'Kiosk 1']);
    expect(removed).toMatchObject({ code: 0, stdout: 'Removed device Kiosk 1\n' });
    expect((await devices()).map((d) => d.name)).toEqual(['alice-laptop']);
    const again = await box.run(['device', 'remove', 'Kiosk 1']);
    expect(again).toMatchObject({ code: 1, stderr: 'poort: no device Kiosk 1\n' });
    const last = await box.withDb((db) =>
      db.selectFrom('audit_events').select('event').where('action', '=', 'device.removed').execute(),
    );
    expect(last.map((r) => JSON.parse(r.event) as { details: unknown })).toEqual([
      expect.objectContaining({ details: { device: 'Kiosk 1', cert_fingerprint: HEX } }),
    ]);
  });
});
