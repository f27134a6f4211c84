import fs from 'node:fs';
import nodemailer, { type Transporter } from 'nodemailer';
import type { SmtpSenderConfig } from './config.js';
import { readSecretFile, resolveEnvReferences } from './secrets.js';
import { errorMessage, SendError, type Message, type MessageSender } from './sender.js';

export interface SmtpSenderOptions {
  /** where `${ENV_VAR}` references are looked up; default process.env */
  env?: NodeJS.ProcessEnv;
  /** names the configuration key in errors, e.g. `mfa.otp.email` */
  where?: string;
}

/**
 * E-mail over SMTP with nodemailer: one connection per message (codes are few and far between). The password is read
 * once, at start-up, from the environment or its file, and is never part of an error or a log line.
 */
export class SmtpSender implements MessageSender {
  readonly description: string;
  readonly #transport: Transporter;
  readonly #from: string;

  constructor(config: SmtpSenderConfig, options: SmtpSenderOptions = {}) {
    const where = options.where ?? 'smtp';
    const port = config.port ?? (config.security === 'tls' ? 465 : 587);
    let pass: string | undefined;
    if (config.password !== undefined) {
      pass = resolveEnvReferences(config.password, options.env ?? process.env, `${where}.password`);
    } else if (config.password_file !== undefined) {
      pass = readSecretFile(config.password_file, `${where}.password_file`);
    }
    let ca: Buffer | undefined;
    if (config.ca_file !== undefined) {
      try {
        ca = fs.readFileSync(config.ca_file);
      } catch (err) {
        throw new Error(`${where}.ca_file: cannot read ${config.ca_file}: ${errorMessage(err)}`, {
          cause: err,
        });
      }
    }
    this.#from = config.from;
    this.description = `smtp ${config.host}:${port}`;
    this.#transport = nodemailer.createTransport({
      host: config.host,
      port,
      secure: config.security === 'tls',
      requireTLS: config.security === 'starttls',
      ignoreTLS: config.security === 'none',
      ...(config.username !== undefined && pass !== undefined
        ? { auth: { user: config.username, pass } }
        : {}),
      tls: { rejectUnauthorized: config.reject_unauthorized, ...(ca ? { ca } : {}) },
      connectionTimeout: config.timeout * 1000,
      greetingTimeout: config.timeout * 1000,
      socketTimeout: config.timeout * 1000,
      logger: false,
      debug: false,
    });
  }

  async send(to: string, message: Message): Promise<void> {
    try {
      await this.#transport.sendMail({
        from: this.#from,
        to,
        subject: message.subject ?? '',
        text: message.text,
        // RFC 3834: no out-of-office replies to a machine
        headers: { 'Auto-Submitted': 'auto-generated' },
      });
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new SendError(
        `${this.description}: ${typeof code === 'string' ? `${code}: ` : ''}${errorMessage(err)}`,
      );
    }
  }
}
