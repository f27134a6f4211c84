#!/usr/bin/env node
import { ConfigError, loadConfig } from '../config/load.js';
import { startServer } from './server.js';

/** `npm start`: start Poort from its configuration; stop cleanly on SIGTERM and SIGINT. */
async function main(): Promise<void> {
  // Keys, databases and logs Poort writes are for its own user only.
  process.umask(0o077);
  let loaded;
  try {
    loaded = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`poort: configuration error:\n${err.message}\n`);
      process.exit(78);
    }
    throw err;
  }
  let server;
  try {
    server = await startServer(loaded);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`poort: configuration error:\n${err.message}\n`);
      process.exit(78);
    }
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      process.stderr.write(
        `poort: cannot listen on ${loaded.config.server.host}:${loaded.config.server.port}: ${code}\n`,
      );
      process.exit(1);
    }
    throw err;
  }
  const running = server;
  const stop = (signal: string) => {
    running.log.info({ event: 'server.stopping', signal }, 'stopping');
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        running.log.error({ err }, 'unclean shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`poort: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
