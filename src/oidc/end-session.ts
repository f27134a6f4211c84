import type Provider from 'oidc-provider';
import type { Logger } from '../log/logger.js';

/**
 * Ends a single sign-on session of oidc-provider as its own logout endpoint does: the applications that registered
 * a back-channel logout URI are told, every grant of the session is revoked with its tokens, and the session goes.
 * Used where a session ends outside that endpoint: a SAML single logout, a sign-out everywhere. Returns the OIDC
 * clients that were told and those that could not be.
 */
export async function endOidcSession(
  provider: Provider,
  uid: string,
  log: Logger,
): Promise<{ notified: string[]; failed: string[] } | undefined> {
  const session = await provider.Session.findByUid(uid);
  if (!session) return undefined;
  const notified: string[] = [];
  const failed: string[] = [];
  const accountId = session.accountId;
  for (const [clientId, authorization] of Object.entries(session.authorizations ?? {})) {
    // oidc-provider's types leave out the back-channel logout method of a client
    const client = (await provider.Client.find(clientId)) as
      | { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> }
      | undefined;
    if (client?.backchannelLogoutUri && accountId) {
      const sid = session.sidFor(clientId);
      try {
        await client.backchannelLogout(accountId, sid!);
        notified.push(clientId);
      } catch (err) {
        failed.push(clientId);
        log.warn(
          { err, event: 'logout.backchannel', outcome: 'failure', client: clientId },
          'back-channel logout not delivered',
        );
      }
    }
    const grantId = (authorization as { grantId?: string }).grantId;
    if (grantId) {
      await Promise.all([
        provider.AccessToken.revokeByGrantId(grantId),
        provider.RefreshToken.revokeByGrantId(grantId),
        provider.AuthorizationCode.revokeByGrantId(grantId),
      ]);
      const grant = await provider.Grant.find(grantId);
      await grant?.destroy();
    }
  }
  // The browser's session cookie now names nothing: oidc-provider treats it as signed out.
  await session.destroy();
  return { notified, failed };
}
