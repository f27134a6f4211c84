import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import type { ShippingStatus } from '../../src/audit/shipping-status.js';
import { createSandbox, type Sandbox } from '../helpers/cli.js';

/** `poort audit shipping`: what an operator (or a monitoring check) sees of the trail's shipping, from any machine. */
describe('poort audit shipping', { timeout: 60_000 }, () => {
  let box: Sandbox;
  let firstEventAt = 0;

  beforeAll(async () => {
    box = createSandbox();
    // a SIEM that has not taken anything: nothing listens there, and no server runs to ship to it
    const port = await freePort();
    fs.writeFileSync(
      path.join(box.dir, 'poort.yaml'),
      `audit:\n  sinks:\n    - { type: webhook, name: siem, url: "http://127.0.0.1:${port}/hook" }\n`,
    );
    firstEventAt = Date.now();
    const added = await box.run(['group', 'add', 'staff']);
    expect(added.code, added.stderr).toBe(0);
    await box.withDb((db) =>
      db
        .insertInto('audit_cursors')
        .values({ sink: 'old-siem', seq: 0, updated_at: new Date().toISOString() })
        .execute(),
    );
  });
  afterAll(() => box.remove());

  it('lists the head, the shipping node and every sink, with --json', async () => {
    const result = await box.run(['audit', 'shipping', '--json']);
    expect(result.code, result.stderr).toBe(0);
    const status = JSON.parse(result.stdout) as ShippingStatus;
    expect(status.head?.seq).toBeGreaterThanOrEqual(1);
    expect(status.shipper).toBeUndefined(); // no server runs
    expect(status.ephemeralError).toBeUndefined();
    const byName = Object.fromEntries(status.sinks.map((s) => [s.sink, s]));
    expect(byName.siem).toMatchObject({ configured: true, delivered: 0, behind: status.head!.seq });
    // Poort's own sink, which tells applications of a sign-out everywhere
    expect(byName['oidc-sessions-ended']).toMatchObject({ configured: true });
    expect(byName['old-siem']).toMatchObject({ configured: false, delivered: 0 });
  });

  it('prints a table for people', async () => {
    const result = await box.run(['audit', 'shipping']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Trail head: +event \d+, \d{4}-\d\d-\d\dT/m);
    expect(result.stdout).toMatch(/^Shipping node: +none: no server runs/m);
    expect(result.stdout).toMatch(/^SINK +DELIVERED +BEHIND +LATE +STATE$/m);
    // no server runs to ship: the events wait
    expect(result.stdout).toMatch(/^siem +0 +\d+ +\d+s +catching up$/m);
    expect(result.stdout).toMatch(/^old-siem +0 +\d+ +\S+ +no longer configured$/m);
  });

  it('--max-late exits 1 and names the late sinks, as a monitoring check', async () => {
    expect((await box.run(['audit', 'shipping', '--max-late', '1h'])).code).toBe(0);
    // the first event is at least two seconds old
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstEventAt + 2100 - Date.now())));
    const late = await box.run(['audit', 'shipping', '--max-late', '1']);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/sink siem is \d+s late/);
    expect(late.stderr).toMatch(/\(at most 1s\)/);
    expect(late.stderr).not.toContain('old-siem'); // no longer configured: not judged
  });

  it('refuses a --max-late that is not a duration, with usage', async () => {
    const result = await box.run(['audit', 'shipping', '--max-late', 'soon']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--max-late.*expected a duration such as 90s, 15m or 1h/);
  });
});
