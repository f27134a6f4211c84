import http from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoredAuditEvent } from '../../../src/audit/event.js';
import { sinkSchema, type WebhookSinkConfig } from '../../../src/audit/sinks/config.js';
import { createSink } from '../../../src/audit/sinks/index.js';
import { WebhookSink } from '../../../src/audit/sinks/webhook.js';
import { openAuditFixture, type AuditFixture } from './fixture.js';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: { events: Array<{ event: { id: string; sequence: number } }> };
}

type Reply = (res: http.ServerResponse) => void;

function webhookConfig(input: Record<string, unknown>): WebhookSinkConfig {
  return sinkSchema.parse({ type: 'webhook', name: 'hook', ...input }) as WebhookSinkConfig;
}

describe('webhook sink', () => {
  let fx: AuditFixture;
  let events: StoredAuditEvent[];
  let server: http.Server;
  let url: string;
  const received: Received[] = [];
  let reply: Reply = (res) => res.writeHead(204).end();

  beforeAll(async () => {
    fx = await openAuditFixture();
    events = await fx.appendMany(5);
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          method: req.method!,
          url: req.url!,
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Received['body'],
        });
        reply(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await fx?.close();
  });

  it('POSTs {"events": [ECS documents]} as JSON with the configured headers, ${ENV} resolved at creation', async () => {
    reply = (res) => res.writeHead(202).end('{"ok":true}');
    const env = { HOOK_TOKEN: 's3cr3t-t0ken' };
    const sink = createSink(
      webhookConfig({
        url: `${url}/ingest?source=poort`,
        headers: { Authorization: 'Bearer ${HOOK_TOKEN}', 'X-Tenant': 'acme' },
      }),
      { env },
    );
    expect(sink.batchSize).toBe(100);
    env.HOOK_TOKEN = 'changed later';
    await sink.deliver(events);
    await sink.close();
    const got = received.at(-1)!;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/ingest?source=poort');
    expect(got.headers['content-type']).toBe('application/json');
    expect(got.headers.authorization).toBe('Bearer s3cr3t-t0ken');
    expect(got.headers['x-tenant']).toBe('acme');
    expect(got.body.events.map((e) => e.event.id)).toEqual(events.map((e) => e.event.id));
    expect(got.body.events.map((e) => e.event.sequence)).toEqual([1, 2, 3, 4, 5]);
  });

  it('refuses to start when a referenced variable is not set', () => {
    const config = webhookConfig({ url, headers: { Authorization: 'Bearer ${POORT_TEST_UNSET_TOKEN}' } });
    expect(() => new WebhookSink(config, { env: {} })).toThrow(
      /hook.*Authorization.*POORT_TEST_UNSET_TOKEN.*not set/,
    );
  });

  it('fails the batch on any answer but 2xx, and does not follow redirects', async () => {
    const sink = new WebhookSink(webhookConfig({ url }));
    reply = (res) => res.writeHead(503, 'Service Unavailable').end('down for maintenance');
    await expect(sink.deliver(events.slice(0, 1))).rejects.toThrow('webhook: HTTP 503 Service Unavailable');
    reply = (res) => res.writeHead(400).end();
    await expect(sink.deliver(events.slice(0, 1))).rejects.toThrow(/HTTP 400/);
    const before = received.length;
    reply = (res) => res.writeHead(307, { location: `${url}/elsewhere` }).end();
    await expect(sink.deliver(events.slice(0, 1))).rejects.toThrow(/HTTP 307/);
    expect(received.length).toBe(before + 1);
    reply = (res) => res.writeHead(200).end();
    await sink.deliver(events.slice(0, 1));
    await sink.close();
  });

  it('keeps its timeout through a garbage collection while the receiver does not answer', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const sink = new WebhookSink(webhookConfig({ url, timeout: '1s' }));
    reply = () => {}; // never answers
    const started = Date.now();
    const delivery = sink.deliver(events.slice(0, 1));
    for (let i = 0; i < 5; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      gc();
    }
    await expect(delivery).rejects.toThrow('webhook: no answer within 1s');
    expect(Date.now() - started).toBeLessThan(3000);
    await sink.close();
  }, 10_000);

  it('fails the batch when the receiver does not answer within the timeout, or when closed meanwhile', async () => {
    const sink = new WebhookSink(webhookConfig({ url, timeout: '1s' }));
    reply = () => {}; // never answers
    const started = Date.now();
    await expect(sink.deliver(events.slice(0, 1))).rejects.toThrow('webhook: no answer within 1s');
    expect(Date.now() - started).toBeLessThan(3000);
    const closing = new WebhookSink(webhookConfig({ url }));
    const pending = closing.deliver(events.slice(0, 1));
    await new Promise((resolve) => setTimeout(resolve, 100));
    await closing.close();
    await expect(pending).rejects.toThrow();
    await expect(closing.deliver(events.slice(0, 1))).rejects.toThrow(/closed/);
    server.closeAllConnections();
  });
});
