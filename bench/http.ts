import http from 'node:http';

/** One response, body read in full. */
export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** sent as application/x-www-form-urlencoded */
  form?: Record<string, string>;
}

const REQUEST_TIMEOUT_MS = 15_000;

/**
 * A keep-alive HTTP/1.1 client on node:http, cheaper in CPU than fetch (the load generator shares the machine with
 * the server). Connects to 127.0.0.1 but sends the issuer's Host header, so absolute URLs and cookies match.
 */
export class HttpClient {
  readonly #agent: http.Agent;
  /** called as each response has been read in full (before the caller sees it): for per-request accounting */
  onResponse?: (method: string, path: string) => void;

  constructor(
    readonly port: number,
    /** the Host header the server is addressed by (the issuer's host:port) */
    readonly hostHeader: string,
    maxSockets: number,
  ) {
    this.#agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
  }

  request(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    const headers: Record<string, string> = { host: this.hostHeader, ...options.headers };
    let payload: string | undefined;
    if (options.form) {
      payload = new URLSearchParams(options.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: this.port, method, path, headers, agent: this.#agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            this.onResponse?.(method, path);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            });
          });
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new Error(`${method} ${path}: no response in ${REQUEST_TIMEOUT_MS} ms`)),
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/**
 * The load balancer of the two-node runs, as HAProxy's `leastconn` or nginx's `least_conn`: each request goes to the
 * node with the fewest requests in flight, and among those to the next in turn, so the steps of one sign-in land on
 * different nodes while each node carries an even share of the load at every moment. (Plain turns, request by
 * request, let the share drift: at times one node has most of the virtual users' requests and the other waits.)
 * `port` is the first node's.
 */
export class BalancedHttpClient extends HttpClient {
  readonly #nodes: { client: HttpClient; inFlight: number }[];
  #next = 0;

  constructor(ports: readonly number[], hostHeader: string, maxSockets: number) {
    super(ports[0]!, hostHeader, 1);
    this.#nodes = ports.map((port) => {
      const client = new HttpClient(port, hostHeader, maxSockets);
      client.onResponse = (method, path) => this.onResponse?.(method, path);
      return { client, inFlight: 0 };
    });
  }

  override async request(method: string, path: string, options: RequestOptions = {}): Promise<HttpResponse> {
    const node = pickLeastBusy(this.#nodes, this.#next);
    this.#next = (this.#nodes.indexOf(node) + 1) % this.#nodes.length;
    node.inFlight += 1;
    try {
      return await node.client.request(method, path, options);
    } finally {
      node.inFlight -= 1;
    }
  }

  override close(): void {
    for (const node of this.#nodes) node.client.close();
    super.close();
  }
}

interface Cookie {
  name: string;
  value: string;
  path: string;
}

/** A browser's cookie jar for one host: name and path, no domains (loopback only), expiry by deletion only. */
export class CookieJar {
  readonly #cookies = new Map<string, Cookie>();

  /** The Cookie header for a request to `path`, or undefined when no cookie applies. */
  header(path: string): string | undefined {
    let out = '';
    for (const c of this.#cookies.values()) {
      if (!path.startsWith(c.path)) continue;
      out += `${out ? '; ' : ''}${c.name}=${c.value}`;
    }
    return out || undefined;
  }

  store(setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let cookiePath = '/';
      let expired = false;
      for (const raw of attrs) {
        const attr = raw.trim();
        const lower = attr.toLowerCase();
        if (lower.startsWith('path=')) cookiePath = attr.slice(5) || '/';
        else if (/^max-age=(0|-\d+)$/.test(lower) || lower === 'expires=thu, 01 jan 1970 00:00:00 gmt')
          expired = true;
      }
      const key = `${name}|${cookiePath}`;
      if (expired || value === '') this.#cookies.delete(key);
      else this.#cookies.set(key, { name, value, path: cookiePath });
    }
  }

  clear(): void {
    this.#cookies.clear();
  }

  get size(): number {
    return this.#cookies.size;
  }
}

/** An unexpected response: what was asked, what came back, and the start of the body. */
export class BenchError extends Error {
  override readonly name = 'BenchError';
  constructor(step: string, detail: string, response?: HttpResponse) {
    super(
      response
        ? `${step}: ${detail} (HTTP ${response.status}${response.headers.location ? `, Location ${response.headers.location}` : ''}): ${response.body.slice(0, 300).replace(/\s+/g, ' ')}`
        : `${step}: ${detail}`,
    );
  }
}

export function basicAuth(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

/** The body of a 200 JSON response, or a BenchError. */
export function expectJson<T>(step: string, res: HttpResponse): T {
  if (res.status !== 200) throw new BenchError(step, 'expected 200', res);
  try {
    return JSON.parse(res.body) as T;
  } catch {
    throw new BenchError(step, 'not JSON', res);
  }
}

/** The node with the fewest requests in flight; of several, the first from `next` on (turns among equals). */
export function pickLeastBusy<T extends { inFlight: number }>(nodes: readonly T[], next: number): T {
  let best = nodes[next % nodes.length]!;
  for (let i = 1; i < nodes.length; i++) {
    const node = nodes[(next + i) % nodes.length]!;
    if (node.inFlight < best.inFlight) best = node;
  }
  return best;
}
