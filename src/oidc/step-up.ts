import type { IncomingMessage } from 'node:http';
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { requirementForAcr, satisfies, type AcrValues, type Strength } from '../mfa/strength.js';
import { applicationOf } from '../saml/client.js';
import type { SessionStrengths } from './session-strength.js';

export const STEP_UP_REASON = 'acr_step_up';

/**
 * Whether the contextual policy finds a single sign-on session not enough for this authorization request (this
 * application, from where the request comes now): it asks for a stronger or fresher second factor, or refuses.
 */
export type SessionPolicyCheck = (
  req: IncomingMessage,
  session: { accountId: string; strength: Strength | undefined; authTime: number | undefined },
  /** the OIDC client, or the SAML service provider a request of Poort's SAML front-end is for */
  application: { id: string; protocol: 'oidc' | 'saml' },
) => Promise<boolean>;

/**
 * oidc-provider's interaction policy plus one check: an application asking with acr_values for more than the single
 * sign-on session holds (multi-factor, phishing-resistant), or a contextual policy asking more for this application
 * and context, sends the user back to sign in — for the second factor only — instead of silently passing.
 * oidc-provider itself only enforces acr the application marks essential.
 */
export function interactions(
  acr: AcrValues,
  strengths: SessionStrengths,
  sessionPolicy?: SessionPolicyCheck,
) {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.push(
    new interactionPolicy.Check(
      STEP_UP_REASON,
      'a stronger authentication is required',
      'login_required',
      async (ctx: KoaContextWithOIDC) => {
        const { oidc } = ctx;
        const session = oidc.session;
        if (!session?.accountId || oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const strength = await strengths.of(session);
        if (typeof oidc.params?.acr_values === 'string') {
          const requirement = requirementForAcr(oidc.params.acr_values.split(' '), acr);
          if (!satisfies(strength, requirement)) return interactionPolicy.Check.REQUEST_PROMPT;
        }
        if (sessionPolicy && oidc.client) {
          const needsMore = await sessionPolicy(
            ctx.req,
            { accountId: session.accountId, strength, authTime: session.authTime() },
            applicationOf({ ...oidc.params, client_id: oidc.client.clientId }),
          );
          if (needsMore) return interactionPolicy.Check.REQUEST_PROMPT;
        }
        return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      },
    ),
  );
  return policy;
}
