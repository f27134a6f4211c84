import { z } from 'zod';

const claimName = z
  .string()
  .regex(/^[A-Za-z0-9_:./-]{1,128}$/, { message: 'expected a claim name such as preferred_username' });

/** http only for the machine itself (a test or a provider beside Poort); anything else must be https. */
const issuerUrl = z
  .url({ message: 'expected the provider’s issuer URL' })
  .refine(
    (u) => {
      const url = new URL(u);
      if (url.protocol === 'https:') return true;
      return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
    },
    { message: 'expected an https URL (http only on localhost)' },
  )
  .refine((u) => !new URL(u).search && !new URL(u).hash, { message: 'an issuer has no query or fragment' });

/**
 * An upstream OpenID provider (Microsoft Entra ID, Google Workspace, another Poort…) whose users sign in there and
 * come back: Poort is its relying party (authorization code with PKCE, a confidential client). The user Poort keeps
 * for them is made at their first sign-in and follows the provider's claims at every later one.
 */
export const upstreamProviderSchema = z
  .object({
    /** in URLs and in the trail: the redirect URI to register at the provider is <issuer>/signin/upstream/<id>/callback */
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, {
      message: 'expected lower-case letters, digits and -, such as entra',
    }),
    /** on the button: "Sign in with <name>" */
    name: z.string().min(1).max(64),
    /**
     * home realm discovery: a name typed on the sign-in page that is an address in one of these domains signs in at
     * this provider (the password form sends the person there)
     */
    domains: z
      .array(
        z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, {
          message: 'expected a lower-case domain name such as school.example',
        }),
      )
      .default([]),
    /** e.g. https://login.microsoftonline.com/<tenant id>/v2.0 (discovery: <issuer>/.well-known/openid-configuration) */
    issuer: issuerUrl,
    client_id: z.string().min(1).max(256),
    client_secret: z.string().min(1).optional(),
    client_secret_file: z.string().min(1).optional(),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/)).default(['openid', 'profile', 'email']),
    /** which claims (of the ID token, then of userinfo) say what Poort keeps of the user */
    claims: z
      .object({
        /** stable and never reassigned (Entra: oid) */
        id: claimName.default('sub'),
        username: claimName.default('preferred_username'),
        /** without it, a username that is an e-mail address is used */
        email: claimName.default('email'),
        name: claimName.default('name'),
        given_name: claimName.default('given_name'),
        family_name: claimName.default('family_name'),
        /** a list of group names (Entra: configure group claims to carry names, or map its object ids in policies) */
        groups: claimName.default('groups'),
      })
      .strict()
      .prefault({}),
    /**
     * take the provider's multi-factor sign-in (its ID token's `amr` holds `mfa`) for a second factor of strength
     * `any` here, as Entra's and Okta's federation settings do; a policy or application that asks for TOTP or
     * phishing-resistant strength still asks for Poort's own factor
     */
    trust_mfa: z.boolean().default(false),
    /** ask the userinfo endpoint too, for claims the ID token does not carry */
    userinfo: z.boolean().default(true),
    /** make Poort groups for the provider's groups it does not have yet; else only existing ones are filled */
    create_missing_groups: z.boolean().default(true),
    /**
     * signing out of Poort also signs the person out at the provider, when they signed in there: the browser goes
     * to its end_session_endpoint and comes back to <issuer>/signin/upstream/<id>/signed-out (register that as a
     * post-logout redirect URI there). For shared computers; it also ends their other applications' sessions there
     */
    sign_out: z.boolean().default(false),
  })
  .strict()
  .superRefine((p, ctx) => {
    if (!p.scopes.includes('openid'))
      ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'must include openid' });
    if ((p.client_secret === undefined) === (p.client_secret_file === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['client_secret'],
        message: 'give client_secret or client_secret_file (one of them)',
      });
    }
  });

export const upstreamProvidersSchema = z.array(upstreamProviderSchema).superRefine((providers, ctx) => {
  const seen = new Set<string>();
  const domains = new Map<string, string>();
  providers.forEach((p, i) => {
    if (seen.has(p.id))
      ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `another provider has the id ${p.id}` });
    seen.add(p.id);
    p.domains.forEach((domain, j) => {
      const other = domains.get(domain);
      if (other !== undefined)
        ctx.addIssue({ code: 'custom', path: [i, 'domains', j], message: `${domain} is already ${other}'s` });
      domains.set(domain, p.id);
    });
  });
});

export type UpstreamProviderConfig = z.infer<typeof upstreamProviderSchema>;
