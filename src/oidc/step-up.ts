import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { requirementForAcr, satisfies, strengthOfAcr, type AcrValues } from '../mfa/strength.js';

export const STEP_UP_REASON = 'acr_step_up';

/**
 * oidc-provider's interaction policy plus one check: an application asking with acr_values for more than the single
 * sign-on session holds (multi-factor, phishing-resistant) sends the user back to sign in — for the second factor
 * only — instead of silently passing. oidc-provider itself only enforces acr the application marks essential.
 */
export function interactions(acr: AcrValues) {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.push(
    new interactionPolicy.Check(
      STEP_UP_REASON,
      'a stronger authentication is required',
      'login_required',
      (ctx: KoaContextWithOIDC) => {
        const { oidc } = ctx;
        if (!oidc.session?.accountId || typeof oidc.params?.acr_values !== 'string')
          return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        if (oidc.result?.login) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        const requirement = requirementForAcr(oidc.params.acr_values.split(' '), acr);
        return satisfies(strengthOfAcr(oidc.session.acr, acr), requirement)
          ? interactionPolicy.Check.NO_NEED_TO_PROMPT
          : interactionPolicy.Check.REQUEST_PROMPT;
      },
    ),
  );
  return policy;
}
