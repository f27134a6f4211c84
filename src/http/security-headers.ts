import type { ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

/**
 * Strict headers on every response, the provider's included. No form-action: browsers apply it to the redirects
 * after a form is posted, and the sign-in form ends in a redirect to the application. oidc-provider adds the hash
 * of its one inline script (the form_post response) to script-src itself.
 */
export function securityHeaders(options: { https: boolean }): (res: ServerResponse) => void {
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const hsts = 'max-age=31536000; includeSubDomains';
  return (res: ServerResponse) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=(), usb=()');
    if (options.https) res.setHeader('Strict-Transport-Security', hsts);
  };
}

/** Pages that carry per-user content must not be cached by browsers or proxies. */
export function noStore(_req: Request, res: Response, next: NextFunction) {
  res.setHeader('Cache-Control', 'no-store');
  next();
}
