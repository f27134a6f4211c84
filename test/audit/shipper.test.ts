import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { StoredAuditEvent } from '../../src/audit/event.js';
import { freePort } from '../../bench/free-port.js';
import { AUDIT_LEASE, AuditShipper, backoffDelay, createAuditShipper } from '../../src/audit/shipper.js';
import { sinkSchema, type WebhookSinkConfig } from '../../src/audit/sinks/config.js';
import { FileSink } from '../../src/audit/sinks/file.js';
import type { Sink } from '../../src/audit/sinks/sink.js';
import { WebhookSink } from '../../src/audit/sinks/webhook.js';
import { Lease } from '../../src/store/lease.js';
import { openTestKeyValueStore } from '../helpers/backend.js';
import {
  memoryLogger,
  openAuditFixture,
  sampleEvent,
  silentLogger,
  waitFor,
  type AuditFixture,
} from './sinks/fixture.js';

interface Doc {
  event: { id: string; sequence: number };
}

/** A webhook receiver whose behaviour the test changes as it goes. */
async function startReceiver(
  port: number,
  answer: (docs: Doc[], req: http.IncomingMessage) => number | Promise<number>,
) {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const { events } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: Doc[] };
      const status = await answer(events, req);
      if (!res.destroyed) res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function webhook(name: string, port: number, extra: Record<string, unknown> = {}): WebhookSink {
  const config = sinkSchema.parse({ type: 'webhook', name, url: `http://127.0.0.1:${port}/hook`, ...extra });
  return new WebhookSink(config as WebhookSinkConfig);
}

const ids = (events: Array<StoredAuditEvent | Doc>) => events.map((e) => e.event.id);

describe('backoff', () => {
  it('starts at 250 ms and doubles up to 30 s, with ±20 % jitter', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 50].map((n) => backoffDelay(n, undefined, undefined, mid))).toEqual([
      250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
    expect(backoffDelay(1, 250, 30_000, () => 0)).toBe(200);
    expect(backoffDelay(1, 250, 30_000, () => 0.999999)).toBe(300);
    expect(backoffDelay(20, 250, 30_000, () => 0.999999)).toBe(30_000);
    expect(backoffDelay(20, 250, 30_000, () => 0)).toBe(24_000);
  });
});

describe('audit shipper', () => {
  let fx: AuditFixture;
  const cleanup: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    fx = await openAuditFixture();
  });
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  afterAll(async () => {
    await fx?.close();
  });

  const headSeq = async () => (await fx.audit.query({ limit: 1 }))[0]?.seq ?? 0;

  it('rides out a webhook receiver that is down, then answers 503, then comes back: every event once, in order', async () => {
    const port = await freePort();
    const { logger, lines } = memoryLogger('debug');
    const start = await headSeq();
    await fx.audit.setCursor('outage', start);
    const shipper = new AuditShipper({
      audit: fx.audit,
      sinks: [webhook('outage', port, { batch_size: 25 })],
      logger,
      retry: { initialMs: 20, maxMs: 150 },
    });
    await shipper.start();
    cleanup.push(() => shipper.stop());

    // Down: nothing listens. Appends do not wait for the shipper, which keeps retrying as long as the receiver is
    // down: they finish, in the time the trail takes (a few transactions, made at once as a busy server makes them).
    const t0 = performance.now();
    const appended = await Promise.all(
      Array.from({ length: 200 }, (_, i) => fx.audit.append(sampleEvent(i))),
    );
    expect(performance.now() - t0).toBeLessThan(5_000);
    await waitFor('the sink to fail', () => shipper.status()[0]!.failing);
    const down = shipper.status()[0]!;
    expect(down).toMatchObject({ name: 'outage', failing: true, cursor: start, lag: 200 });
    expect(down.lastError).toMatch(/ECONNREFUSED/);

    // Up but unavailable: it even takes in the events before answering 503, so they arrive more than once.
    const everything: Doc[] = [];
    const acknowledged: Doc[] = [];
    let unavailable = 0;
    let available = false;
    const receiver = await startReceiver(port, (docs) => {
      everything.push(...docs);
      if (!available) {
        unavailable += 1;
        return 503;
      }
      acknowledged.push(...docs);
      return 200;
    });
    cleanup.push(() => receiver.close());
    await waitFor('three 503 answers', () => unavailable >= 3);
    expect(shipper.status()[0]).toMatchObject({
      failing: true,
      lastError: 'webhook: HTTP 503 Service Unavailable',
    });
    const t1 = performance.now();
    appended.push(
      ...(await Promise.all(Array.from({ length: 50 }, (_, i) => fx.audit.append(sampleEvent(i))))),
    );
    expect(performance.now() - t1).toBeLessThan(5_000);

    // Back.
    available = true;
    await waitFor('the receiver to catch up', () => acknowledged.length >= appended.length);
    appended.push(...(await fx.appendMany(10)));
    await waitFor('the last appends', () => acknowledged.length >= appended.length);
    await waitFor('the status to settle', () => shipper.status()[0]!.lag === 0);

    expect(ids(acknowledged)).toEqual(ids(appended));
    expect(everything.length).toBeGreaterThan(appended.length);
    const seen = new Set<string>();
    const deduplicated = everything.filter((d) => !seen.has(d.event.id) && seen.add(d.event.id));
    expect(ids(deduplicated)).toEqual(ids(appended));
    expect(deduplicated.map((d) => d.event.sequence)).toEqual(appended.map((e) => e.seq));
    const last = appended[appended.length - 1]!.seq;
    expect(shipper.status()).toEqual([{ name: 'outage', cursor: last, lag: 0, failing: false }]);
    expect(await fx.audit.cursor('outage')).toBe(last);

    // The log names the sink and the error, never what the events say.
    const logged = lines.join('');
    expect(logged).toContain('"sink":"outage"');
    expect(logged).toContain('ECONNREFUSED');
    expect(logged).toContain('HTTP 503');
    expect(logged).not.toMatch(/user\d|192\.0\.2\.10|Firefox|corr-/);
    for (const e of appended.slice(0, 5)) expect(logged).not.toContain(e.event.id);
  });

  it('keeps shipping to the other sinks while one is dead', async () => {
    const dead = await freePort();
    const file = path.join(fx.dir, 'alive.jsonl');
    await fx.audit.setCursor('alive', await headSeq());
    await fx.audit.setCursor('dead', await headSeq());
    const shipper = new AuditShipper({
      audit: fx.audit,
      sinks: [
        webhook('dead', dead),
        new FileSink({ type: 'file', name: 'alive', path: file, max_bytes: 1 << 30, keep: 1 }),
      ],
      logger: silentLogger,
    });
    await shipper.start();
    cleanup.push(() => shipper.stop());
    const appended = await fx.appendMany(40);
    const count = () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').length - 1 : 0);
    await waitFor('the file sink', () => count() === 40, 10_000);
    // The cursor moves just after the batch is written.
    await waitFor('the cursor', () => shipper.status()[1]!.cursor === appended[39]!.seq, 10_000);
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as Doc).event.id)).toEqual(ids(appended));
    const [deadStatus, aliveStatus] = shipper.status();
    expect(deadStatus).toMatchObject({ name: 'dead', failing: true, lag: 40 });
    expect(aliveStatus).toEqual({ name: 'alive', cursor: appended[39]!.seq, lag: 0, failing: false });
  });

  it('picks up, within the one-second poll, events another process appended', async () => {
    const other = await fx.openOther();
    cleanup.push(() => other.close());
    const file = path.join(fx.dir, 'polled.jsonl');
    await fx.audit.setCursor('polled', await headSeq());
    const shipper = createAuditShipper(
      fx.audit,
      [sinkSchema.parse({ type: 'file', name: 'polled', path: file })],
      silentLogger,
    );
    await shipper.start();
    cleanup.push(() => shipper.stop());
    const appended: StoredAuditEvent[] = [];
    for (let i = 0; i < 3; i++) {
      appended.push(
        await other.audit.append({ action: 'user.created', outcome: 'success', actor: { type: 'cli' } }),
      );
    }
    // Nothing in this process announced them: only the poll can find them (a busy machine may take longer).
    await waitFor(
      'the polled events',
      () => fs.existsSync(file) && fs.readFileSync(file, 'utf8').split('\n').length > 3,
      10_000,
    );
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as Doc).event.id)).toEqual(ids(appended));
    // The cursor and the known head move just after the batch is written.
    await waitFor('no lag', () => shipper.status()[0]!.lag === 0, 10_000);
    expect(shipper.status()[0]).toMatchObject({ lag: 0, failing: false });
  });

  it('finishes the batch in flight on stop, and moves the cursor', async () => {
    const port = await freePort();
    let requests = 0;
    const receiver = await startReceiver(port, async () => {
      requests += 1;
      await new Promise((resolve) => setTimeout(resolve, 300));
      return 204;
    });
    cleanup.push(() => receiver.close());
    await fx.audit.setCursor('slow', await headSeq());
    const shipper = new AuditShipper({
      audit: fx.audit,
      sinks: [webhook('slow', port)],
      logger: silentLogger,
    });
    const appended = await fx.appendMany(5);
    await shipper.start();
    await waitFor('the request', () => requests === 1);
    const t0 = performance.now();
    await shipper.stop();
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(requests).toBe(1);
    expect(await fx.audit.cursor('slow')).toBe(appended[4]!.seq);
    expect(shipper.status()[0]).toMatchObject({ cursor: appended[4]!.seq, lag: 0 });
  });

  it('gives up on a hanging batch after the stop timeout; the next start sends it again', async () => {
    const port = await freePort();
    const batches: Doc[][] = [];
    let hang = true;
    const receiver = await startReceiver(port, async (docs, req) => {
      batches.push(docs);
      if (hang) {
        // Never answers; gives up when the client goes away.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 60_000);
          req.socket.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return 200;
    });
    cleanup.push(() => receiver.close());
    const from = await headSeq();
    await fx.audit.setCursor('hang', from);
    const first = new AuditShipper({
      audit: fx.audit,
      sinks: [webhook('hang', port)],
      logger: silentLogger,
      stopTimeoutMs: 200,
    });
    const appended = await fx.appendMany(3);
    await first.start();
    await waitFor('the request', () => batches.length === 1);
    const t0 = performance.now();
    await first.stop();
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(await fx.audit.cursor('hang')).toBe(from);

    hang = false;
    const second = new AuditShipper({
      audit: fx.audit,
      sinks: [webhook('hang', port)],
      logger: silentLogger,
    });
    await second.start();
    cleanup.push(() => second.stop());
    await waitFor('the resend', () => batches.length === 2);
    await waitFor('the cursor', async () => (await fx.audit.cursor('hang')) === appended[2]!.seq);
    expect(ids(batches[0]!)).toEqual(ids(appended));
    expect(ids(batches[1]!)).toEqual(ids(appended));
  });

  it('delivers in batches of the sink size, never reordering, and retries a throwing sink without skipping', async () => {
    const seen: number[][] = [];
    let failures = 2;
    const flaky: Sink = {
      name: 'flaky',
      batchSize: 7,
      async deliver(batch) {
        if (failures-- > 0) throw new Error('flaky');
        seen.push(batch.map((e) => e.seq));
      },
      async close() {},
    };
    const from = await headSeq();
    await fx.audit.setCursor('flaky', from);
    const shipper = new AuditShipper({
      audit: fx.audit,
      sinks: [flaky],
      logger: silentLogger,
      retry: { initialMs: 10 },
    });
    const appended = await fx.appendMany(30);
    await shipper.start();
    cleanup.push(() => shipper.stop());
    await waitFor('all', () => seen.flat().length === 30);
    expect(seen.map((b) => b.length)).toEqual([7, 7, 7, 7, 2]);
    expect(seen.flat()).toEqual(appended.map((e) => e.seq));
  });

  /** A second node's handle on the trail and a key-value store the two nodes share; `sink`'s cursor at the head. */
  async function twoNodes(sink: string) {
    const kv = await openTestKeyValueStore(path.join(fx.dir, `${sink}-kv`));
    cleanup.push(() => kv.close());
    const other = await fx.openOther();
    cleanup.push(() => other.close());
    await fx.audit.setCursor(sink, await headSeq());
    return { kv, other };
  }

  it('ships each event once from two nodes: the lease holder ships, the other takes over when it dies', async () => {
    const { kv, other } = await twoNodes('siem');
    // Each node has the same configuration: a sink of the same name, its own instance.
    const delivered: Array<{ node: string; seq: number }> = [];
    const node = (name: 'A' | 'B', audit: typeof fx.audit) => {
      const lease = new Lease(kv, AUDIT_LEASE, { ttlSeconds: 1, holder: name });
      const sink: Sink = {
        name: 'siem',
        async deliver(batch) {
          for (const e of batch) delivered.push({ node: name, seq: e.seq });
        },
        async close() {},
      };
      // A node that dies does not give the lease up: `release` does nothing, the lease runs out.
      return new AuditShipper({
        audit,
        sinks: [sink],
        logger: silentLogger,
        pollIntervalMs: 50,
        gatherMs: 20,
        lease: { hold: () => lease.hold(), release: async () => {} },
      });
    };
    const a = node('A', fx.audit);
    await a.start();
    cleanup.push(() => a.stop());
    await waitFor('A holding the lease', () => a.shipping);
    const b = node('B', other.audit);
    await b.start();
    cleanup.push(() => b.stop());

    const appended: StoredAuditEvent[] = [];
    for (let i = 0; i < 20; i++) {
      appended.push(await fx.audit.append(sampleEvent(i)));
      appended.push(await other.audit.append(sampleEvent(i)));
    }
    await waitFor('the events of both nodes', () => delivered.length >= appended.length, 10_000);
    expect(delivered.map((d) => d.seq)).toEqual(appended.map((e) => e.seq));
    expect(new Set(delivered.map((d) => d.node))).toEqual(new Set(['A']));
    expect(b.shipping).toBe(false);

    // A dies; B takes over once the lease ran out (1 s) and goes on from the shared cursor.
    await a.stop();
    const later: StoredAuditEvent[] = [];
    for (let i = 0; i < 5; i++) later.push(await other.audit.append(sampleEvent(i)));
    await waitFor('B shipping', () => delivered.length >= appended.length + later.length, 10_000);
    expect(b.shipping).toBe(true);
    expect(delivered.map((d) => d.seq)).toEqual([...appended, ...later].map((e) => e.seq));
    expect(delivered.slice(appended.length).every((d) => d.node === 'B')).toBe(true);
    expect(await fx.audit.cursor('siem')).toBe(later[4]!.seq);
  });

  it('hands shipping over at once when the node that ships stops cleanly', async () => {
    const { kv, other } = await twoNodes('handover');
    const delivered: number[] = [];
    const sink: Sink = {
      name: 'handover',
      async deliver(batch) {
        delivered.push(...batch.map((e) => e.seq));
      },
      async close() {},
    };
    // the default lease of 15 s: only a release lets B take over within the test's wait
    const node = (audit: typeof fx.audit) =>
      new AuditShipper({
        audit,
        sinks: [sink],
        logger: silentLogger,
        pollIntervalMs: 50,
        gatherMs: 20,
        lease: new Lease(kv, AUDIT_LEASE),
      });
    const a = node(fx.audit);
    await a.start();
    await waitFor('A shipping', () => a.shipping);
    const b = node(other.audit);
    await b.start();
    cleanup.push(() => b.stop());
    const first = await other.audit.append(sampleEvent(1));
    await waitFor('A delivering', () => delivered.length === 1);
    await a.stop();
    const second = await other.audit.append(sampleEvent(2));
    await waitFor('B delivering', () => delivered.length === 2, 3000);
    expect(delivered).toEqual([first.seq, second.seq]);
    expect(b.shipping).toBe(true);
  });

  it('never moves a cursor back: a node that delivered late does not undo the newer one', async () => {
    await fx.audit.setCursor('late', 10);
    await fx.audit.setCursor('late', 25);
    await fx.audit.setCursor('late', 18);
    expect(await fx.audit.cursor('late')).toBe(25);
  });

  it('refuses two sinks with one name', () => {
    const sink = (name: string): Sink => ({ name, deliver: async () => {}, close: async () => {} });
    expect(
      () => new AuditShipper({ audit: fx.audit, sinks: [sink('a'), sink('a')], logger: silentLogger }),
    ).toThrow(/two audit sinks are named "a"/);
  });
});
