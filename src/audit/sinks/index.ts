import type { SinkConfig } from './config.js';
import { FileSink } from './file.js';
import type { Sink } from './sink.js';
import { SyslogSink } from './syslog.js';
import { WebhookSink } from './webhook.js';

export type { Sink } from './sink.js';
export { auditConfigSchema, sinkSchema, type AuditConfig, type SinkConfig } from './config.js';

export interface CreateSinkOptions {
  /** where webhook header `${ENV_VAR}` references are looked up; default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * The sink a parsed `audit.sinks[]` entry describes. Throws when it cannot work at all (an unset `${ENV_VAR}`, a
 * missing ca_file), so a mistake shows at start-up rather than at the first event. Opens no connection yet.
 */
export function createSink(config: SinkConfig, options: CreateSinkOptions = {}): Sink {
  switch (config.type) {
    case 'syslog':
      return new SyslogSink(config);
    case 'file':
      return new FileSink(config);
    case 'webhook':
      return new WebhookSink(config, { env: options.env });
  }
}
