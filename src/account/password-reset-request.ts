import type { AuditEventInput, AuditOutcome } from '../audit/event.js';
import type { Language } from '../http/i18n.js';
import { errorMessage, type MessageSender } from '../notify/sender.js';
import { resetLinkMessage } from './password-reset-message.js';
import { resetLinkPath, type PasswordResets, type ResetOrigin } from './password-reset.js';

/** An event of the request, for the caller to record with itself as the actor. */
export type ResetRequestEvent = Omit<AuditEventInput, 'actor' | 'outcome'> & { outcome?: AuditOutcome };

export interface ResetRequestDeps {
  resets: PasswordResets;
  /** e-mails the link; undefined when the caller hands it over itself */
  sender: MessageSender | undefined;
  /** appends an event to the audit trail; when it throws, the request fails and its link never works */
  record: (event: ResetRequestEvent) => Promise<void>;
  issuer: string;
  message: { language: Language; organisation: string };
  /** who asked: the helpdesk (the default) or the user on the sign-in page */
  origin?: ResetOrigin;
}

export interface RequestedReset {
  /** the link, for the caller to hand over when it was not e-mailed */
  link: string;
  delivery: 'email' | 'printed';
  /** ISO-8601 */
  expiresAt: string;
  /** whether an earlier live link of the user stopped working */
  withdrew: boolean;
}

/** The link could not be handed to the sender: recorded as `not_sent`, and withdrawn. */
export class ResetNotSent extends Error {
  override readonly name = 'ResetNotSent';
}

/**
 * A password reset link for a user: made, e-mailed (or returned to hand over) and recorded as
 * `password.reset.requested`. A link that was not delivered or not recorded is withdrawn before this fails.
 */
export async function requestPasswordReset(
  deps: ResetRequestDeps,
  user: { id: string; username: string; email: string; name: string | null },
  lifetimeSeconds: number,
): Promise<RequestedReset> {
  const { resets, sender } = deps;
  const origin = deps.origin ?? 'helpdesk';
  const issued = await resets.issue(user.id, lifetimeSeconds, origin);
  const link = `${deps.issuer.replace(/\/$/, '')}${resetLinkPath(issued.token)}`;
  const subject = { id: user.id, username: user.username };
  const delivery = sender ? 'email' : 'printed';
  const details = {
    via: origin === 'self' ? 'self_service' : origin === 'welcome' ? 'provisioning' : 'helpdesk',
    delivery,
    expires_at: issued.expiresAt,
    ttl_seconds: lifetimeSeconds,
    withdrew_earlier: issued.withdrew,
  };
  try {
    if (sender) {
      try {
        await sender.send(user.email, resetLinkMessage(deps.message, user, link, issued.expiresAt, origin));
      } catch (err) {
        await deps.record({
          action: 'password.reset.requested',
          outcome: 'failure',
          reason: 'not_sent',
          subject,
          details: { ...details, sender: sender.description },
        });
        throw new ResetNotSent(`the link could not be sent to ${user.email}: ${errorMessage(err)}`);
      }
    }
    await deps.record({ action: 'password.reset.requested', subject, details });
  } catch (err) {
    // Undelivered or unrecorded: the link must not work.
    await resets.withdraw(issued.token);
    throw err;
  }
  return { link, delivery, expiresAt: issued.expiresAt, withdrew: issued.withdrew };
}
