import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBalancer, type Balancer } from '../helpers/cluster.js';

/**
 * The multi-node tests' load balancer (test/helpers/cluster.ts) must not turn a node closing a kept-alive connection
 * into a 502: here a stand-in node drops every connection, unanswered, at its second request.
 */
describe('the test load balancer', () => {
  let node: http.Server;
  let balancer: Balancer;
  const seen: Array<{ connection: number; body: string }> = [];

  beforeAll(async () => {
    let connections = 0;
    node = http.createServer(async (req, res) => {
      const socket = req.socket as typeof req.socket & { poortId?: number; requests?: number };
      socket.poortId ??= ++connections;
      socket.requests = (socket.requests ?? 0) + 1;
      let body = '';
      for await (const chunk of req) body += String(chunk);
      seen.push({ connection: socket.poortId, body });
      if (socket.requests > 1) return socket.destroy();
      res.end(`echo ${body}`);
    });
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    balancer = await startBalancer([{ name: 'a', port: (node.address() as AddressInfo).port }]);
  });

  afterAll(async () => {
    await balancer.close();
    node.closeAllConnections();
    await new Promise((resolve) => node.close(resolve));
  });

  it('sends a request again, body and all, on a new connection when the node closed the reused one', async () => {
    const first = await fetch(`${balancer.url}/one`, { method: 'POST', body: 'first' });
    expect(await first.text()).toBe('echo first');
    const second = await fetch(`${balancer.url}/two`, { method: 'POST', body: 'second' });
    expect(second.status).toBe(200);
    expect(await second.text()).toBe('echo second');
    expect(seen).toEqual([
      { connection: 1, body: 'first' },
      { connection: 1, body: 'second' },
      { connection: 2, body: 'second' },
    ]);
  });
});
