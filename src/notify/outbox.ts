import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log/logger.js';
import type { Message, MessageSender } from './sender.js';

/**
 * For development and tests: messages are appended to a file (JSON lines, mode 0600) instead of being sent. The log
 * says a message was written and where; its text only at debug level, since it holds the code.
 */
export class OutboxSender implements MessageSender {
  readonly description: string;
  #ready: Promise<void> | undefined;

  constructor(
    readonly file: string,
    private readonly channel: 'email' | 'sms',
    private readonly log: Logger,
  ) {
    this.description = `outbox ${file}`;
  }

  private prepare(): Promise<void> {
    this.#ready ??= (async () => {
      await fs.promises.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const handle = await fs.promises.open(this.file, 'a', 0o600);
      try {
        // a file made before by someone else keeps its mode on open: tighten it
        await handle.chmod(0o600);
      } finally {
        await handle.close();
      }
    })();
    return this.#ready;
  }

  async send(to: string, message: Message): Promise<void> {
    await this.prepare();
    const line = JSON.stringify({
      time: new Date().toISOString(),
      channel: this.channel,
      to,
      ...(message.subject !== undefined ? { subject: message.subject } : {}),
      text: message.text,
    });
    await fs.promises.appendFile(this.file, `${line}\n`, { mode: 0o600 });
    this.log.info(
      { event: 'notify.outbox', channel: this.channel, file: this.file },
      'message written to outbox',
    );
    this.log.debug({ event: 'notify.outbox', channel: this.channel, text: message.text }, 'outbox message');
  }
}
