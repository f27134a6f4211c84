import path from 'node:path';
import type { Logger } from '../log/logger.js';
import type { EmailSenderConfig, SmsSenderConfig } from './config.js';
import { OutboxSender } from './outbox.js';
import type { MessageSender } from './sender.js';
import { SmtpSender } from './smtp.js';
import { WebhookSender } from './webhook.js';

export interface SenderOptions {
  log: Logger;
  /** where the outbox goes by default */
  dataDir: string;
  /** names the configuration key in errors, e.g. `mfa.otp.email` */
  where: string;
  env?: NodeJS.ProcessEnv;
}

/** The sender a configuration block describes; throws (naming `where`) when a secret or file cannot be read. */
export function createSender(
  channel: 'email' | 'sms',
  config: EmailSenderConfig | SmsSenderConfig,
  options: SenderOptions,
): MessageSender {
  const { where, env, log } = options;
  switch (config.type) {
    case 'smtp':
      return new SmtpSender(config, { where, env });
    case 'webhook':
      return new WebhookSender(config, { where, env });
    case 'outbox': {
      const file = path.resolve(config.path ?? path.join(options.dataDir, 'outbox.jsonl'));
      log.warn(
        { event: 'notify.outbox_in_use', channel, file },
        `${where} writes messages to a file instead of sending them: for development only`,
      );
      return new OutboxSender(file, channel, log);
    }
  }
}
