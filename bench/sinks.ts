import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export const FILE_SINK = { name: 'bench-file', file: 'audit.jsonl' } as const;
export const WEBHOOK_SINK = { name: 'bench-webhook', path: '/events' } as const;

/** The `audit:` block of the bench's poort.yaml: a file sink in `dir`, and a webhook to the local receiver if given. */
export function sinkConfig(dir: string, sinks: { file: boolean; webhookPort?: number }): string {
  const { webhookPort } = sinks;
  const lines = ['audit:', '  sinks:'];
  if (sinks.file) {
    lines.push(
      `    - { type: file, name: ${FILE_SINK.name}, path: ${JSON.stringify(path.join(dir, FILE_SINK.file))} }`,
    );
  }
  if (webhookPort !== undefined) {
    lines.push(
      `    - { type: webhook, name: ${WEBHOOK_SINK.name}, url: "http://127.0.0.1:${webhookPort}${WEBHOOK_SINK.path}" }`,
    );
  }
  return `${lines.join('\n')}\n`;
}

/** Lines in the file sink's output (its rotated files too): one event each. 0 while it does not exist. */
export function countFileEvents(dir: string): number {
  const base = path.join(dir, FILE_SINK.file);
  let lines = 0;
  for (let n = 0; ; n++) {
    let data: Buffer;
    try {
      data = fs.readFileSync(n === 0 ? base : `${base}.${n}`);
    } catch {
      if (n === 0) continue;
      break;
    }
    for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) lines++;
  }
  return lines;
}

/** A SIEM's webhook receiver on loopback: answers 200 at once and counts the events it was sent. */
export interface WebhookReceiver {
  port: number;
  events(): number;
  requests(): number;
  close(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  let events = 0;
  let requests = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests++;
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events?: unknown[] };
        if (req.method === 'POST' && req.url === WEBHOOK_SINK.path && Array.isArray(body.events)) {
          events += body.events.length;
          res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
          return;
        }
      } catch {
        // answered below
      }
      res.writeHead(400).end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    events: () => events,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Polls `count` until it reaches `expected` or `timeoutMs` passed; returns the last count and the time waited. */
export async function waitForCount(
  count: () => number,
  expected: number,
  timeoutMs: number,
): Promise<{ count: number; waitedMs: number }> {
  const start = performance.now();
  for (;;) {
    const n = count();
    const waitedMs = performance.now() - start;
    if (n >= expected || waitedMs >= timeoutMs) return { count: n, waitedMs };
    await new Promise((r) => setTimeout(r, 25));
  }
}
