import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson } from '../../src/http/post-json.js';
import { freePort } from '../helpers/poort.js';

/** A receiver on loopback: /ok answers 204, /down 503, /silent never. */
describe('postJson, the one webhook POST of the audit sink and the SMS gateway', () => {
  let server: http.Server;
  let base: string;
  const received: Array<{ type?: string; body: string }> = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ type: req.headers['content-type'], body });
        if (req.url === '/ok') res.writeHead(204).end();
        else if (req.url === '/down') res.writeHead(503, 'Service Unavailable').end('secret echo');
        else if (req.url === '/moved') res.writeHead(302, { location: '/ok' }).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (path: string, timeoutMs = 2000, signal?: AbortSignal) =>
    postJson(`${base}${path}`, {
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
      timeoutMs,
      ...(signal ? { signal } : {}),
    });

  it('sends the body and takes a 2xx', async () => {
    await post('/ok');
    expect(received.at(-1)).toEqual({ type: 'application/json', body: '{"a":1}' });
  });

  it('names the status of another answer, never its body, and follows no redirect', async () => {
    await expect(post('/down')).rejects.toThrow(/^HTTP 503 Service Unavailable$/);
    await expect(post('/moved')).rejects.toThrow(/^HTTP 302/);
  });

  it('says why the connection failed, and gives up after the timeout or when told to', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    await expect(postJson(closed, { headers: {}, body: '{}', timeoutMs: 2000 })).rejects.toThrow(
      /ECONNREFUSED/,
    );
    await expect(post('/silent', 300)).rejects.toThrow(/^no answer within 0.3s$/);
    const stop = new AbortController();
    const pending = post('/silent', 10_000, stop.signal);
    stop.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow(/^shutting down$/);
  });
});
