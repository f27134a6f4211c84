import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BalancedHttpClient, pickLeastBusy } from '../../bench/http.js';

interface Node {
  name: string;
  port: number;
  /** requests answered so far */
  served: number;
  /** while set, requests wait until it is called */
  hold?: Promise<void>;
  server: http.Server;
}

const nodes: Node[] = [];

async function startNode(name: string): Promise<Node> {
  const node = { name, port: 0, served: 0 } as Node;
  node.server = http.createServer((req, res) => {
    void (async () => {
      await node.hold;
      node.served += 1;
      res.end(node.name);
    })();
  });
  await new Promise<void>((resolve) => node.server.listen(0, '127.0.0.1', resolve));
  node.port = (node.server.address() as AddressInfo).port;
  nodes.push(node);
  return node;
}

afterEach(async () => {
  for (const node of nodes.splice(0)) {
    node.server.closeAllConnections();
    await new Promise<void>((resolve) => node.server.close(() => resolve()));
  }
});

describe('pickLeastBusy, the balancing rule of the two-node bench', () => {
  it('takes the node with the fewest requests in flight', () => {
    const ns = [{ inFlight: 3 }, { inFlight: 1 }, { inFlight: 2 }];
    expect(pickLeastBusy(ns, 0)).toBe(ns[1]);
    expect(pickLeastBusy(ns, 2)).toBe(ns[1]);
  });

  it('among equally busy nodes, takes the first from the one whose turn it is', () => {
    const ns = [{ inFlight: 1 }, { inFlight: 0 }, { inFlight: 0 }];
    expect(pickLeastBusy(ns, 0)).toBe(ns[1]);
    expect(pickLeastBusy(ns, 2)).toBe(ns[2]);
    expect(pickLeastBusy(ns, 4)).toBe(ns[1]); // next wraps around
  });
});

describe('BalancedHttpClient, the load balancer of the two-node bench', () => {
  it('sends the requests of one flow to the nodes in turn', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const client = new BalancedHttpClient([a.port, b.port], 'poort.test', 4);
    try {
      const answered: string[] = [];
      for (let i = 0; i < 6; i++) answered.push((await client.request('GET', '/')).body);
      expect(answered).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
    } finally {
      client.close();
    }
  });

  it('sends requests past a node that is still busy, where plain turns would queue them behind it', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    let release!: () => void;
    a.hold = new Promise((resolve) => (release = resolve));
    const client = new BalancedHttpClient([a.port, b.port], 'poort.test', 4);
    try {
      const slow = client.request('GET', '/slow'); // to a, which holds it
      // a has one request in flight, b none: every later request (one at a time) goes to b
      for (let i = 0; i < 5; i++) expect((await client.request('GET', '/')).body).toBe('b');
      expect(b.served).toBe(5);
      release();
      expect((await slow).body).toBe('a');
      // both idle again: turns resume
      const next = [(await client.request('GET', '/')).body, (await client.request('GET', '/')).body];
      expect(next.sort()).toEqual(['a', 'b']);
    } finally {
      client.close();
    }
  });

  it('spreads requests sent at once evenly over the nodes', async () => {
    const a = await startNode('a');
    const b = await startNode('b');
    const client = new BalancedHttpClient([a.port, b.port], 'poort.test', 8);
    try {
      const bodies = await Promise.all(Array.from({ length: 8 }, () => client.request('GET', '/')));
      expect(bodies.filter((r) => r.body === 'a')).toHaveLength(4);
      expect(bodies.filter((r) => r.body === 'b')).toHaveLength(4);
    } finally {
      client.close();
    }
  });
});
