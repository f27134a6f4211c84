import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { idpMetadata } from './idp.js';
import { Refusal } from './inbound.js';
import { samlContext, type SamlRouteDeps } from './route-context.js';
import { sloRoutes } from './slo-routes.js';
import { ssoRoutes } from './sso-routes.js';

/**
 * The SAML 2.0 identity provider under /saml: metadata, single sign-on (HTTP-Redirect and HTTP-POST), IdP-initiated
 * sign-on and single logout. It does not sign anyone in itself: a validated request becomes an authorization
 * request of Poort's own client `poort-saml`, so SAML and OpenID Connect share one session, one set of sign-in pages,
 * factors and policies; the callback turns the result into an assertion.
 */
export function samlRoutes(deps: SamlRouteDeps): {
  router: Router;
  /** after an OIDC logout ended session `uid`: where to send the browser to tell its SAML SPs, if any */
  afterOidcLogout: (uid: string, location: string) => Promise<string | undefined>;
} {
  const ctx = samlContext(deps);
  const { services, config, endpoints, refuse } = ctx;
  const router = express.Router();

  router.get('/saml/metadata', (_req, res) => {
    const xml = idpMetadata(
      endpoints,
      services.samlCertificates.published(),
      config.saml.require_signed_requests,
    );
    res.set('Cache-Control', 'public, max-age=300').type('application/samlmetadata+xml').send(xml);
  });

  ssoRoutes(router, ctx);
  const { afterOidcLogout } = sloRoutes(router, ctx);

  // A body beyond the parser's limit is an oversized SAML message: refused like the others, never a 5xx.
  router.use('/saml', async (err: unknown, req: Request, res: Response, next: NextFunction) => {
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large' || type === 'parameters.too.many')
      return refuse(
        req,
        res,
        req.path.startsWith('/slo') ? 'saml.logout' : 'saml.request',
        new Refusal('message_too_large', 'the request is too large'),
      );
    next(err);
  });

  return { router, afterOidcLogout };
}
