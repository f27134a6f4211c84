import type { KoaContextWithOIDC } from 'oidc-provider';
import type { AuditEventInput } from '../audit/event.js';
import { correlationId } from '../audit/event.js';
import type { AuditLog } from '../audit/log.js';
import type { Logger } from '../log/logger.js';
import { describeSource } from '../policy/source.js';

type Next = () => Promise<void>;

function errorOf(ctx: KoaContextWithOIDC): string | undefined {
  const body = ctx.body as { error?: unknown } | undefined;
  if (body && typeof body === 'object' && typeof body.error === 'string') return body.error;
  const location = ctx.response.get('location');
  if (location) {
    const url = URL.parse(location);
    const error =
      url?.searchParams.get('error') ?? new URLSearchParams(url?.hash.slice(1) ?? '').get('error');
    if (error) return error;
  }
  return (ctx.state as { poortError?: string }).poortError;
}

/** Which audit event, if any, a finished protocol request makes. Pure apart from reading the context. */
export function protocolEvent(ctx: KoaContextWithOIDC): Omit<AuditEventInput, 'source'> | undefined {
  const oidc = ctx.oidc as KoaContextWithOIDC['oidc'] | undefined;
  const route = oidc?.route;
  if (!oidc || !route) return undefined;
  const client =
    oidc.client?.clientId ?? (typeof oidc.params?.client_id === 'string' ? oidc.params.client_id : undefined);
  const application = client ? { application: { id: client, protocol: 'oidc' as const } } : {};
  const accountId = oidc.account?.accountId ?? oidc.session?.accountId;
  const subject = accountId ? { subject: { id: accountId, known: true } } : {};
  const error = ctx.status >= 400 || ctx.status === 303 || ctx.status === 302 ? errorOf(ctx) : undefined;
  const clientActor = { type: 'client' as const, ...(client ? { id: client } : {}) };

  switch (route) {
    case 'token': {
      const grantType = String(oidc.params?.grant_type ?? '');
      const grantId = (oidc.entities as { Grant?: { jti?: string } } | undefined)?.Grant?.jti;
      const correlation = correlationId(grantId);
      if (ctx.status === 200) {
        return {
          action: grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued',
          outcome: 'success',
          actor: clientActor,
          ...subject,
          ...application,
          ...(correlation ? { correlation } : {}),
          details: { grant_type: grantType },
        };
      }
      return {
        action: 'token.rejected',
        outcome: 'failure',
        actor: clientActor,
        ...subject,
        ...application,
        reason: errorOf(ctx) ?? `http_${ctx.status}`,
        details: { grant_type: grantType },
      };
    }
    case 'revocation':
      if (ctx.status !== 200) return undefined;
      return { action: 'token.revoked', outcome: 'success', actor: clientActor, ...application };
    case 'end_session_confirm':
      if (ctx.status >= 400) return undefined;
      return {
        action: 'logout',
        outcome: 'success',
        actor: accountId ? { type: 'user', id: accountId } : { type: 'user' },
        ...subject,
        ...application,
        details: { initiator: client ? 'relying_party' : 'user' },
      };
    case 'authorization':
    case 'resume':
    case 'pushed_authorization_request':
      // A request refused before anyone signed in: unknown client, unregistered redirect, missing PKCE, …
      // (access_denied after the consent page is already recorded as consent.denied).
      if (!error || error === 'access_denied' || error === 'login_required' || error === 'consent_required')
        return undefined;
      return {
        action: 'signin.rejected',
        outcome: 'failure',
        actor: { type: 'user' },
        ...application,
        reason: error,
        details: { endpoint: route },
      };
    default:
      return undefined;
  }
}

/**
 * Records protocol outcomes (tokens issued, refreshed, refused, revoked; logouts; rejected requests) in the audit trail.
 * The event is written before the response leaves: when it cannot be stored, the response becomes an error and
 * whatever was issued never reaches the client.
 */
export function auditProtocol(
  audit: AuditLog,
  log: Logger,
  unavailablePage: (ctx: KoaContextWithOIDC) => string,
) {
  return async (ctx: KoaContextWithOIDC, next: Next) => {
    await next();
    const event = protocolEvent(ctx);
    if (!event) return;
    try {
      await audit.append({ ...event, source: describeSource(ctx.ip, ctx.headers) });
    } catch (err) {
      log.error({ err, action: event.action }, 'audit trail unavailable: failing closed');
      ctx.remove('location');
      ctx.status = 503;
      if (ctx.oidc?.route === 'token' || ctx.oidc?.route === 'revocation') {
        ctx.type = 'application/json';
        ctx.body = {
          error: 'temporarily_unavailable',
          error_description: 'the request could not be recorded; try again later',
        };
      } else {
        ctx.type = 'html';
        ctx.body = unavailablePage(ctx);
      }
    }
  };
}
