import http from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../bench/free-port.js';
import { shippingStatus } from '../../src/audit/shipping-status.js';
import { AUDIT_LEASE, AuditShipper } from '../../src/audit/shipper.js';
import { sinkFailureKey, type SinkFailure } from '../../src/audit/sink-failures.js';
import { sinkSchema, type FileSinkConfig, type WebhookSinkConfig } from '../../src/audit/sinks/config.js';
import { FileSink } from '../../src/audit/sinks/file.js';
import { WebhookSink } from '../../src/audit/sinks/webhook.js';
import type { KeyValueStore } from '../../src/store/kv.js';
import { Lease } from '../../src/store/lease.js';
import { openTestKeyValueStore } from '../helpers/backend.js';
import { openAuditFixture, silentLogger, waitFor, type AuditFixture } from './sinks/fixture.js';

/** `poort audit shipping` reads this: the head, the node shipping, every sink's cursor, lateness and failure. */
describe('audit shipping status', () => {
  let fx: AuditFixture;
  let kv: KeyValueStore;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    fx = await openAuditFixture();
    kv = await openTestKeyValueStore(path.join(fx.dir, 'kv'));
  });
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  afterAll(async () => {
    await kv?.close();
    await fx?.close();
  });

  const headSeq = async () => (await fx.audit.query({ limit: 1 }))[0]?.seq ?? 0;
  const webhook = (name: string, port: number) =>
    new WebhookSink(
      sinkSchema.parse({ type: 'webhook', name, url: `http://127.0.0.1:${port}/hook` }) as WebhookSinkConfig,
    );
  const file = (name: string) =>
    new FileSink(
      sinkSchema.parse({ type: 'file', name, path: path.join(fx.dir, `${name}.jsonl`) }) as FileSinkConfig,
    );

  it('shows the shipping node, a sink that has everything, one that fails and why, and one no longer configured', async () => {
    const port = await freePort();
    const start = await headSeq();
    await fx.audit.setCursor('siem', start);
    await fx.audit.setCursor('archive', start);
    await fx.audit.setCursor('retired', 1);
    const lease = new Lease(kv, AUDIT_LEASE);
    const shipper = new AuditShipper({
      audit: fx.audit,
      sinks: [file('archive'), webhook('siem', port)],
      logger: silentLogger,
      retry: { initialMs: 20, maxMs: 100 },
      gatherMs: 10,
      lease,
      failures: { kv, node: lease.holder },
    });
    await shipper.start();
    cleanup.push(() => shipper.stop());
    const appended = await fx.appendMany(30);
    const head = appended.at(-1)!;
    await waitFor('the file sink to catch up', () => shipper.status()[0]!.cursor === head.seq);
    await waitFor('the webhook to fail twice', async () => {
      const failure = await kv.get<SinkFailure>(sinkFailureKey('siem'));
      return (failure?.attempts ?? 0) >= 2;
    });

    const firstTime = Date.parse(appended[0]!.event.time);
    const status = await shippingStatus(fx.audit, kv, ['archive', 'siem'], firstTime + 90_500);
    expect(status.head).toEqual({ seq: head.seq, time: head.event.time });
    expect(status.shipper?.node).toBe(lease.holder);
    expect(status.ephemeralError).toBeUndefined();
    const byName = Object.fromEntries(status.sinks.map((s) => [s.sink, s]));
    expect(Object.keys(byName).sort()).toEqual(['archive', 'retired', 'siem']);
    expect(byName.archive).toMatchObject({
      configured: true,
      delivered: head.seq,
      behind: 0,
      lateSeconds: 0,
    });
    expect(byName.archive!.failure).toBeUndefined();
    expect(byName.archive!.waitingSince).toBeUndefined();
    expect(byName.siem).toMatchObject({
      configured: true,
      delivered: start,
      behind: 30,
      waitingSince: appended[0]!.event.time,
      lateSeconds: 90,
      failure: { node: lease.holder },
    });
    expect(byName.siem!.failure!.attempts).toBeGreaterThanOrEqual(2);
    expect(byName.siem!.failure!.error).toMatch(/ECONNREFUSED/);
    expect(Date.parse(byName.siem!.failure!.since)).toBeLessThanOrEqual(Date.parse(byName.siem!.failure!.at));
    expect(byName.retired).toMatchObject({ configured: false, delivered: 1 });
    expect(byName.retired!.behind).toBe(head.seq - 1);

    // The receiver comes up: the sink takes everything and its failure record goes.
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    await waitFor('the webhook to catch up', () => shipper.status()[1]!.cursor === head.seq);
    await waitFor('the failure record to go', async () => !(await kv.get(sinkFailureKey('siem'))));
    const after = await shippingStatus(fx.audit, kv, ['archive', 'siem']);
    expect(after.sinks.find((s) => s.sink === 'siem')).toMatchObject({ behind: 0, lateSeconds: 0 });
    expect(after.sinks.find((s) => s.sink === 'siem')!.failure).toBeUndefined();

    // A clean stop gives the lease up: no node ships.
    await shipper.stop();
    expect((await shippingStatus(fx.audit, kv, ['archive', 'siem'])).shipper).toBeUndefined();
  });

  it('clears a failure record another node (or an earlier run) left, at its first delivery', async () => {
    const start = await headSeq();
    await fx.audit.setCursor('left', start);
    const stale: SinkFailure = {
      since: '2026-01-01T00:00:00.000Z',
      attempts: 9,
      error: 'webhook: HTTP 503 Service Unavailable',
      at: '2026-01-01T00:05:00.000Z',
      node: 'a node that died',
    };
    await kv.set(sinkFailureKey('left'), stale, 3600);
    const shipper = new AuditShipper({
      audit: fx.audit,
      sinks: [file('left')],
      logger: silentLogger,
      gatherMs: 10,
      lease: new Lease(kv, AUDIT_LEASE),
      failures: { kv },
    });
    await shipper.start();
    cleanup.push(() => shipper.stop());
    expect((await shippingStatus(fx.audit, kv, ['left'])).sinks[0]!.failure).toEqual(stale);
    const head = (await fx.appendMany(3)).at(-1)!;
    await waitFor('the sink to catch up', () => shipper.status()[0]!.cursor === head.seq);
    await waitFor('the stale record to go', async () => !(await kv.get(sinkFailureKey('left'))));
  });

  it('still lists the sinks when the key-value store cannot be read, and says why', async () => {
    const closed = await openTestKeyValueStore(path.join(fx.dir, 'closed-kv'));
    await closed.close();
    await fx.appendMany(1);
    const status = await shippingStatus(fx.audit, closed, ['siem']);
    expect(status.ephemeralError).toEqual(expect.any(String));
    expect(status.shipper).toBeUndefined();
    expect(status.sinks.map((s) => s.sink)).toContain('siem');
    expect(status.sinks.find((s) => s.sink === 'siem')!.failure).toBeUndefined();
  });
});
