import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { packageRoot } from '../../src/paths.js';

const MAIN = path.join(packageRoot, 'dist', 'src', 'server', 'main.js');
const READY_TIMEOUT_MS = 30_000;

/** One Poort server running as a process of its own (`npm start`), as a node behind a load balancer runs. */
export interface NodeProcess {
  name: string;
  port: number;
  pid: number;
  /** what the process wrote so far, for failure messages */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the built server (`node dist/src/server/main.js`) with only the given environment, and waits until its
 * /readyz answers 200 (so its stores are reachable). Build first: `npm run build`.
 */
export async function startNodeProcess(
  name: string,
  port: number,
  env: Record<string, string>,
  cwd: string,
): Promise<NodeProcess> {
  if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} is missing: run "npm run build" before these tests`);
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    cwd,
    env: { PATH: process.env.PATH ?? '', ...env, POORT_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (gone) throw new Error(`node ${name} exited before it was ready:\n${output}`);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
      (res) => res.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`node ${name} was not ready within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    name,
    port,
    pid: child.pid!,
    output: () => output,
    async stop() {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A request as the balancer passed it on: to which node, and what. */
export interface Routed {
  node: string;
  method: string;
  path: string;
}

/**
 * A plain HTTP load balancer in front of the nodes: each request goes to the next node in turn, or to the one it is
 * pinned to. The Host header passes unchanged, so every node sees the issuer's host, as behind a real balancer.
 */
export interface Balancer {
  url: string;
  /** every request passed on, in order */
  readonly routed: Routed[];
  /** sends every request to this node from now on; `undefined` goes back to taking turns */
  pin(node: string | undefined): void;
  close(): Promise<void>;
}

export async function startBalancer(nodes: ReadonlyArray<{ name: string; port: number }>): Promise<Balancer> {
  const routed: Routed[] = [];
  let pinned: string | undefined;
  let turn = 0;
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer(async (req, res) => {
    const node = pinned ? nodes.find((n) => n.name === pinned)! : nodes[turn++ % nodes.length]!;
    routed.push({ node: node.name, method: req.method ?? 'GET', path: req.url ?? '/' });
    // The body is read first, so that a request can be sent again (test requests are small).
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return res.destroy(); // the client went away
    }
    const body = Buffer.concat(chunks);
    const send = (retry: boolean) => {
      const upstream = http.request(
        {
          host: '127.0.0.1',
          port: node.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
          answer.pipe(res);
        },
      );
      upstream.on('error', (err: NodeJS.ErrnoException) => {
        // A kept-alive connection the node closed just as it was reused: nothing reached the node, so send it
        // again on a new connection (as Node's documentation advises) rather than answer 502.
        if (retry && upstream.reusedSocket && err.code === 'ECONNRESET' && !res.headersSent)
          return send(false);
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`balancer: node ${node.name}: ${err.message}`);
      });
      upstream.end(body);
    };
    send(true);
  });
  // Keep idle client connections longer than any client does (undici drops them after ~4 s): a balancer that closed
  // one just as the test's fetch reused it would fail that request with "other side closed".
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://localhost:${port}`,
    routed,
    pin: (node) => {
      if (node !== undefined && !nodes.some((n) => n.name === node)) throw new Error(`no node ${node}`);
      pinned = node;
    },
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
