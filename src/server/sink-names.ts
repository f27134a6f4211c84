import type { Config } from '../config/schema.js';
import { SECURITY_NOTICES_SINK } from '../notify/security-notices-sink.js';
import { ENDED_EVERYWHERE_SINK } from '../oidc/ended-everywhere-sink.js';

// the names only (leaf modules): the CLI must not load oidc-provider for them
/** Whether the security notices' sink runs (either kind of notice is on). */
export function securityNoticesOn(config: Config): boolean {
  return config.notifications.security_changes || config.notifications.new_sign_ins;
}

/** The names of every sink a server with this configuration ships the trail to: the configured ones, then its own. */
export function shippedSinkNames(config: Config): string[] {
  return [
    ...config.audit.sinks.map((s) => s.name),
    ENDED_EVERYWHERE_SINK,
    ...(securityNoticesOn(config) ? [SECURITY_NOTICES_SINK] : []),
  ];
}
