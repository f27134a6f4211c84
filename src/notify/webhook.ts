import { postJson } from '../http/post-json.js';
import type { WebhookSenderConfig } from './config.js';
import { resolveEnvReferences } from './secrets.js';
import { errorMessage, SendError, type Message, type MessageSender } from './sender.js';

export interface WebhookSenderOptions {
  /** where `${ENV_VAR}` references are looked up; default process.env */
  env?: NodeJS.ProcessEnv;
  /** names the configuration key in errors, e.g. `mfa.otp.sms` */
  where?: string;
}

/**
 * The template with `{{to}}` and `{{text}}` put into its string values. Working on the parsed JSON rather than on
 * its text means a quote or a line break in a value can never break out of its string.
 */
export function fillTemplate(template: unknown, values: { to: string; text: string }): unknown {
  if (typeof template === 'string') {
    return template.replace(/\{\{(to|text)\}\}/g, (_m, name: 'to' | 'text') => values[name]);
  }
  if (Array.isArray(template)) return template.map((item) => fillTemplate(item, values));
  if (template !== null && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillTemplate(v, values)]));
  }
  return template;
}

/**
 * Text messages through an SMS gateway's HTTP API: one JSON POST per message, any 2xx means the gateway took it.
 * Redirects are not followed, so the credentials in the headers only ever go to the configured address.
 */
export class WebhookSender implements MessageSender {
  readonly description: string;
  readonly #url: string;
  readonly #headers: Record<string, string>;
  readonly #template: unknown;
  readonly #timeoutMs: number;

  constructor(config: WebhookSenderConfig, options: WebhookSenderOptions = {}) {
    const where = options.where ?? 'webhook';
    const env = options.env ?? process.env;
    this.#url = config.url;
    this.description = `webhook ${new URL(config.url).origin}`;
    this.#template = config.body;
    this.#timeoutMs = config.timeout * 1000;
    this.#headers = {
      'user-agent': 'Poort',
      accept: 'application/json, */*;q=0.5',
      ...Object.fromEntries(
        Object.entries(config.headers).map(([name, value]) => [
          name,
          resolveEnvReferences(value, env, `${where}.headers.${name}`),
        ]),
      ),
      'content-type': 'application/json',
    };
  }

  async send(to: string, message: Message): Promise<void> {
    const body = JSON.stringify(fillTemplate(this.#template, { to, text: message.text }));
    try {
      await postJson(this.#url, { headers: this.#headers, body, timeoutMs: this.#timeoutMs });
    } catch (err) {
      throw new SendError(`${this.description}: ${errorMessage(err)}`);
    }
  }
}
