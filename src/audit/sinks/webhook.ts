import { postJson } from '../../http/post-json.js';
import { toEcs } from '../ecs.js';
import type { StoredAuditEvent } from '../event.js';
import { ENV_REFERENCE, type WebhookSinkConfig } from './config.js';
import { errorMessage, type Sink } from './sink.js';

/** Replaces every `${NAME}` in the header values by the environment variable; an unset variable is an error. */
export function resolveHeaders(
  name: string,
  headers: Record<string, string> | undefined,
  env: NodeJS.ProcessEnv,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [header, value] of Object.entries(headers ?? {})) {
    out[header] = value.replace(ENV_REFERENCE, (_match, variable: string) => {
      const resolved = env[variable];
      if (resolved === undefined) {
        throw new Error(`audit sink "${name}": header ${header} refers to \${${variable}}, which is not set`);
      }
      if (/[\r\n]/.test(resolved)) {
        throw new Error(`audit sink "${name}": \${${variable}} contains a line break`);
      }
      return resolved;
    });
  }
  return out;
}

export interface WebhookSinkOptions {
  /** where `${ENV_VAR}` references are looked up; default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * POSTs `{"events": [ECS documents…]}` as JSON; any 2xx answer means the batch arrived. Redirects are not followed,
 * so configured credentials never go to another address.
 */
export class WebhookSink implements Sink {
  readonly name: string;
  readonly batchSize: number;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #closing = new AbortController();

  constructor(config: WebhookSinkConfig, options: WebhookSinkOptions = {}) {
    this.name = config.name;
    this.batchSize = config.batch_size;
    this.#url = config.url;
    this.#timeoutMs = config.timeout * 1000;
    this.#headers = {
      'user-agent': 'Poort audit shipper',
      accept: 'application/json, */*;q=0.5',
      ...resolveHeaders(config.name, config.headers, options.env ?? process.env),
      'content-type': 'application/json',
    };
  }

  async deliver(batch: StoredAuditEvent[]): Promise<void> {
    if (this.#closing.signal.aborted) throw new Error('the sink is closed');
    if (batch.length === 0) return;
    const body = JSON.stringify({ events: batch.map(toEcs) });
    try {
      await postJson(this.#url, {
        headers: this.#headers,
        body,
        timeoutMs: this.#timeoutMs,
        signal: this.#closing.signal,
      });
    } catch (err) {
      throw new Error(`webhook: ${errorMessage(err)}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    this.#closing.abort(new Error('the sink is closed'));
  }
}
