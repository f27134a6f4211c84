import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GatewayRequest {
  headers: http.IncomingHttpHeaders;
  /** the body as sent */
  raw: string;
  /** the body parsed as JSON (undefined when it is not JSON) */
  body: unknown;
}

export interface TestSmsGateway {
  /** the address to send to: http://127.0.0.1:<port>/send */
  url: string;
  /** requests with the right credentials and a JSON body */
  accepted: GatewayRequest[];
  /** requests refused (wrong or missing credentials, not JSON, wrong path) */
  refused: GatewayRequest[];
  /** the next accepted message to `to` not returned before: its text */
  waitFor(to: string, timeoutMs?: number): Promise<{ to: string; text: string; request: GatewayRequest }>;
  /** answer the next requests with this status (e.g. 503) instead of 200; undefined to accept again */
  failWith(status: number | undefined): void;
  close(): Promise<void>;
}

/**
 * A stand-in for an SMS gateway's HTTP API on a free loopback port: POST /send with `authorization` equal to
 * `expectedAuth` and a JSON body; `read` says where the number and text are in the body (default `to`, `text`).
 */
export async function startSmsGateway(options: {
  expectedAuth: string;
  read?: (body: unknown) => { to: string; text: string } | undefined;
}): Promise<TestSmsGateway> {
  const read =
    options.read ??
    ((body: unknown) => {
      const b = body as { to?: unknown; text?: unknown } | null;
      return typeof b?.to === 'string' && typeof b.text === 'string' ? { to: b.to, text: b.text } : undefined;
    });
  const accepted: GatewayRequest[] = [];
  const refused: GatewayRequest[] = [];
  const taken = new Set<GatewayRequest>();
  const waiters = new Set<() => void>();
  let failStatus: number | undefined;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const request: GatewayRequest = { headers: req.headers, raw, body };
      const ok =
        req.method === 'POST' &&
        req.url === '/send' &&
        req.headers.authorization === options.expectedAuth &&
        req.headers['content-type'] === 'application/json' &&
        read(body) !== undefined;
      if (!ok) {
        refused.push(request);
        res.writeHead(req.headers.authorization === options.expectedAuth ? 400 : 401).end();
        return;
      }
      if (failStatus !== undefined) {
        refused.push(request);
        res.writeHead(failStatus).end();
        return;
      }
      accepted.push(request);
      for (const wake of waiters) wake();
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"queued"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/send`,
    accepted,
    refused,
    failWith(status) {
      failStatus = status;
    },
    waitFor(to, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const next = accepted.find((r) => !taken.has(r) && read(r.body)?.to === to);
          if (!next) return false;
          taken.add(next);
          waiters.delete(check);
          clearTimeout(timer);
          resolve({ ...read(next.body)!, request: next });
          return true;
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no text message to ${to} within ${timeoutMs} ms`));
        }, timeoutMs);
        if (!check()) waiters.add(check);
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
