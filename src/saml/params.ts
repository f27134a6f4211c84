import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import {
  isRequirement,
  SAML_CLIENT_ID,
  SP_MAC_PARAM,
  SP_PARAM,
  SP_REQUIREMENT_PARAM,
  type SpBinding,
} from './client.js';

/**
 * oidc-provider's check of the extra authorization parameters: only Poort's SAML client names a service provider,
 * always with a valid binding to the request's state. What passes is kept with the interaction, so later steps
 * (policy, audit) can believe it. Kept apart from client.ts so that the CLI does not load oidc-provider.
 */
export function samlExtraParams(binding: SpBinding) {
  const check = async (ctx: KoaContextWithOIDC) => {
    const params = ctx.oidc.params ?? {};
    const isSaml = ctx.oidc.client?.clientId === SAML_CLIENT_ID;
    const named =
      params[SP_PARAM] !== undefined ||
      params[SP_MAC_PARAM] !== undefined ||
      params[SP_REQUIREMENT_PARAM] !== undefined;
    if (!isSaml && named)
      throw new errors.InvalidRequest(`the ${SP_PARAM} parameters are reserved for Poort's SAML front-end`);
    if (isSaml && !binding.verify(params.state, params[SP_PARAM], params[SP_MAC_PARAM]))
      throw new errors.InvalidRequest('the service provider of this request is not bound to it');
    const requirement = params[SP_REQUIREMENT_PARAM];
    if (requirement !== undefined && !isRequirement(requirement))
      throw new errors.InvalidRequest(`${SP_REQUIREMENT_PARAM} is not a known requirement`);
  };
  return { [SP_PARAM]: check, [SP_MAC_PARAM]: null, [SP_REQUIREMENT_PARAM]: null };
}
