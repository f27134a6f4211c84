import type { IncomingMessage } from 'node:http';
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { satisfies, type AcrValues, type Strength } from '../mfa/strength.js';
import { applicationOf, requestedRequirement } from '../saml/client.js';
import type { SessionStrengths } from './session-strength.js';

export const STEP_UP_REASON = 'acr_step_up';
/** The user was signed out everywhere (a password reset, `poort user sign-out`) after this session's sign-in. */
export const SIGNED_OUT_REASON = 'signed_out_everywhere';

/**
 * What the user's account and the contextual policy say of a single sign-on session for this authorization request
 * (this application, from where the request comes now): enough; more needed (a stronger or fresher second factor,
 * or a refusal the sign-in pages show); or ended, because the user was signed out everywhere after it began.
 */
export type SessionVerdict = 'enough' | 'more' | 'ended';

export type SessionPolicyCheck = (
  req: IncomingMessage,
  session: { accountId: string; strength: Strength | undefined; authTime: number | undefined },
  /** the OIDC client, or the SAML service provider a request of Poort's SAML front-end is for */
  application: { id: string; protocol: 'oidc' | 'saml' },
) => Promise<SessionVerdict>;

/**
 * oidc-provider's interaction policy plus two checks of an existing single sign-on session:
 * - an application asking with acr_values (a SAML service provider: with its RequestedAuthnContext) for more than the
 *   session holds (multi-factor, TOTP, phishing-resistant), or
 *   a contextual policy asking more for this application and context, sends the user back to sign in — for the
 *   second factor only — instead of silently passing (oidc-provider itself only enforces acr marked essential);
 * - a session from before the user was signed out everywhere asks for the password again.
 * Both read one verdict per request.
 */
export function interactions(
  acr: AcrValues,
  strengths: SessionStrengths,
  sessionPolicy?: SessionPolicyCheck,
) {
  const verdicts = new WeakMap<KoaContextWithOIDC, Promise<SessionVerdict>>();

  async function judge(ctx: KoaContextWithOIDC): Promise<SessionVerdict> {
    const { oidc } = ctx;
    const session = oidc.session;
    if (!session?.accountId || oidc.result?.login) return 'enough';
    const strength = await strengths.of(session);
    const verdict =
      sessionPolicy && oidc.client
        ? await sessionPolicy(
            ctx.req,
            { accountId: session.accountId, strength, authTime: session.authTime() },
            applicationOf({ ...oidc.params, client_id: oidc.client.clientId }),
          )
        : 'enough';
    if (verdict !== 'enough') return verdict;
    const requirement = requestedRequirement(oidc.params ?? {}, acr);
    return satisfies(strength, requirement) ? 'enough' : 'more';
  }

  function verdictOf(ctx: KoaContextWithOIDC): Promise<SessionVerdict> {
    let verdict = verdicts.get(ctx);
    if (!verdict) {
      verdict = judge(ctx);
      verdicts.set(ctx, verdict);
    }
    return verdict;
  }

  const prompting = (wanted: SessionVerdict) => async (ctx: KoaContextWithOIDC) =>
    (await verdictOf(ctx)) === wanted
      ? interactionPolicy.Check.REQUEST_PROMPT
      : interactionPolicy.Check.NO_NEED_TO_PROMPT;

  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.push(
    new interactionPolicy.Check(
      SIGNED_OUT_REASON,
      'the user was signed out everywhere',
      'login_required',
      prompting('ended'),
    ),
    new interactionPolicy.Check(
      STEP_UP_REASON,
      'a stronger authentication is required',
      'login_required',
      prompting('more'),
    ),
  );
  return policy;
}
