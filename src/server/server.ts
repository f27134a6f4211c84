import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import type { LoadedConfig } from '../config/load.js';
import { AuditMaintenance } from '../audit/maintenance.js';
import { AUDIT_LEASE, createAuditShipper, type AuditShipper } from '../audit/shipper.js';
import { Lease } from '../store/lease.js';
import { ConfigError } from '../config/load.js';
import { createApp } from '../http/app.js';
import { preloadGeo } from '../policy/source.js';
import { activePolicy } from '../policy/load.js';
import { PolicyError } from '../policy/schema.js';
import { LdapSyncSchedule } from '../directory/ldap/schedule.js';
import { createLogger, type Logger } from '../log/logger.js';
import { createProvider, type ProviderPages } from '../oidc/provider.js';
import { openServices, type Services } from './services.js';
import { securityNoticesOn, shippedSinkNames } from './sink-names.js';
import { resetLinkSender } from '../account/password-reset-message.js';
import { SecurityNoticeSink } from '../notify/security-notices.js';
import { SECURITY_NOTICES_SINK } from '../notify/security-notices-sink.js';
import { EndedEverywhereSink } from '../oidc/ended-everywhere.js';
import { ENDED_EVERYWHERE_SINK } from '../oidc/ended-everywhere-sink.js';
import type { Sink } from '../audit/sinks/sink.js';
import { warmSchemaValidator } from '../saml/inbound.js';

export interface RunningServer {
  url: string;
  services: Services;
  log: Logger;
  close(): Promise<void>;
}

const KEY_POLL_MS = 2000;

/** Starts Poort: store, keys, provider and HTTP server. Resolves once it listens. */
export async function startServer(
  loaded: LoadedConfig,
  options: { log?: Logger } = {},
): Promise<RunningServer> {
  const log = options.log ?? createLogger(loaded.config.log.level);
  const services = await openServices(loaded, { log });
  const { config } = services;
  // The policy in force must be usable before the first sign-in needs it: a broken policy file stops start-up like
  // any other bad configuration (a stored version was checked when `poort policy set` stored it).
  try {
    await activePolicy(services);
  } catch (err) {
    await services.close();
    if (err instanceof PolicyError) throw new ConfigError(`${loaded.file}: policies.file: ${err.message}`);
    throw err;
  }
  // Made by the server, not by every CLI command on a fresh keys folder: only the server signs SAML messages. On a
  // first start it is made while argon2 warms up in the thread pool.
  await Promise.all([services.samlCertificates.ensure(), services.hasher.warm()]);
  preloadGeo();
  await warmSchemaValidator(services.serviceProviders);

  let provider: Provider;
  const handle = createApp(services, () => provider, log);
  const pages: ProviderPages = handle.pages;
  const build = () =>
    createProvider({
      config,
      signingKeys: services.keys.publishedKeys(),
      cookieKeys: services.keys.cookieKeys().map((k) => k.key),
      kv: services.kv,
      clients: services.clients,
      directory: services.directory,
      audit: services.audit,
      pages,
      log,
      sessionPolicy: handle.sessionPolicy,
      extraParams: handle.extraParams,
      afterLogout: handle.afterLogout,
      signOnEnded: handle.signOnEnded,
      ...(handle.signedIn ? { signedIn: handle.signedIn } : {}),
    });
  provider = build();

  // `poort keys rotate` / `retire` may run in another process: pick up the new key set (signing and cookie keys)
  // without a restart.
  let keyVersion = services.keys.version();
  const keyWatch = setInterval(() => {
    const version = services.keys.version();
    if (version === keyVersion) return;
    try {
      provider = build();
      keyVersion = version;
      log.info(
        {
          event: 'keys.reloaded',
          kids: services.keys.signingKeys().map((k) => k.kid),
          cookie_keys: services.keys.cookieKeys().map((k) => k.id),
        },
        'keys reloaded',
      );
    } catch (err) {
      log.error({ err }, 'could not reload the keys; keeping the current ones');
    }
  }, KEY_POLL_MS);
  keyWatch.unref();

  // Poort's own sinks (applications told of a sign-out everywhere; security notices), beside the configured ones
  const own: Sink[] = [await endedEverywhere(services, () => provider, log)];
  if (securityNoticesOn(config)) own.push(await securityNotices(services, config, log));
  // One node of several ships the trail and keeps it (checkpoints, retention): the holder of this lease.
  const auditLease = new Lease(services.kv, AUDIT_LEASE);
  const maintenance = new AuditMaintenance(
    services.audit,
    services.db,
    services.keys,
    {
      checkpointInterval: config.audit.checkpoint_interval,
      retention: config.audit.retention,
      archiveDir: path.join(config.storage.data_dir, 'audit-archive'),
      sinkNames: shippedSinkNames(config),
    },
    log,
    auditLease,
  );
  maintenance.start();
  let shipper: AuditShipper;
  try {
    shipper = createAuditShipper(services.audit, config.audit.sinks, log, {
      own,
      lease: auditLease,
      failures: { kv: services.kv, node: auditLease.holder },
    });
  } catch (err) {
    await maintenance.stop();
    await services.close();
    throw new ConfigError(`${loaded.file}: audit.sinks: ${(err as Error).message}`);
  }
  await shipper.start();
  const ldapSync = services.ldap
    ? new LdapSyncSchedule(services.ldap.sync, services.kv, services.ldap.settings.syncIntervalSeconds, log)
    : undefined;
  ldapSync?.start();

  const server = http.createServer(
    { requestTimeout: 30_000, headersTimeout: 20_000, maxHeaderSize: 16 * 1024 },
    handle.handle,
  );
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info(
    {
      event: 'server.started',
      address: `${host}:${address.port}`,
      issuer: config.server.issuer,
      config: loaded.file,
    },
    'Poort is listening',
  );

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    services,
    log,
    close() {
      closing ??= (async () => {
        clearInterval(keyWatch);
        await ldapSync?.stop();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(() => server.closeAllConnections(), 5000).unref();
        });
        await shipper.stop();
        await maintenance.stop();
        await services.close();
      })();
      return closing;
    },
  };
}

/** A sink of Poort's own begins at the head of the trail the first time it runs: it does not act on the past. */
async function startAtHead(services: Services, name: string): Promise<void> {
  if ((await services.audit.cursor(name)) === 0) {
    const head = (await services.audit.query({ limit: 1 }))[0]?.seq ?? 0;
    if (head > 0) await services.audit.setCursor(name, head);
  }
}

/** The sink that tells applications when someone is signed out everywhere (back-channel logout). */
async function endedEverywhere(
  services: Services,
  provider: () => Provider,
  log: Logger,
): Promise<EndedEverywhereSink> {
  await startAtHead(services, ENDED_EVERYWHERE_SINK);
  return new EndedEverywhereSink({
    provider,
    users: services.users,
    kv: services.kv,
    audit: services.audit,
    log,
  });
}

/**
 * The security notices' sink (notifications.security_changes, new_sign_ins). Turned on for the first time, it begins
 * at the head of the trail: nobody is told about changes from before.
 */
async function securityNotices(
  services: Services,
  config: Services['config'],
  log: Logger,
): Promise<SecurityNoticeSink> {
  const sender = resetLinkSender(config, log);
  if (!sender) throw new Error('security notices need an e-mail sender');
  await startAtHead(services, SECURITY_NOTICES_SINK);
  return new SecurityNoticeSink({
    users: services.users,
    sender,
    kv: services.kv,
    language: config.organisation.default_language,
    organisation: config.organisation.name,
    log,
    kinds: {
      changes: config.notifications.security_changes,
      newSignIns: config.notifications.new_sign_ins,
    },
  });
}
