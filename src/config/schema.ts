import { z } from 'zod';
import { isValidCidr } from '../http/cidr.js';
import { auditConfigSchema } from '../audit/sinks/config.js';
import { otpConfigSchema } from '../mfa/otp/config.js';
import { webauthnConfigSchema } from '../mfa/webauthn/config.js';
import { samlConfigSchema } from '../saml/config.js';
import { duration } from './duration.js';
import { adminConfigSchema } from '../admin/config.js';
import { ldapConfigSchema } from '../directory/ldap/config.js';
import { scimConfigSchema } from '../scim/config.js';
import { upstreamProvidersSchema } from '../directory/upstream/config.js';
import { emailSenderSchema } from '../notify/config.js';
import { postgresPoolSchema, postgresUrl, redisConnectionSchema, redisUrl } from '../store/config.js';

const cidr = z
  .string()
  .refine(isValidCidr, { message: 'expected an IP address or CIDR range such as 10.0.0.0/8' });

const absoluteUrl = z
  .url({ message: 'expected an absolute http(s) URL' })
  .refine((u) => /^https?:\/\//.test(u), {
    message: 'expected an http or https URL',
  });

export const staticClientSchema = z
  .object({
    client_id: z.string().min(1).max(200),
    client_name: z.string().max(200).optional(),
    client_secret: z.string().min(16, 'client secrets need at least 16 characters').optional(),
    client_secret_file: z.string().optional(),
    public: z.boolean().default(false),
    first_party: z.boolean().default(false),
    redirect_uris: z.array(absoluteUrl).default([]),
    post_logout_redirect_uris: z.array(absoluteUrl).default([]),
    grant_types: z
      .array(z.enum(['authorization_code', 'refresh_token', 'client_credentials']))
      .default(['authorization_code', 'refresh_token']),
    require_pkce: z.boolean().default(false),
    backchannel_logout_uri: absoluteUrl.optional(),
    scope: z.string().optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.public && (c.client_secret || c.client_secret_file)) {
      ctx.addIssue({ code: 'custom', message: 'a public client has no secret' });
    }
    if (!c.public && !c.client_secret && !c.client_secret_file) {
      ctx.addIssue({
        code: 'custom',
        message: 'a confidential client needs client_secret or client_secret_file',
      });
    }
    if (c.public && c.grant_types.includes('client_credentials')) {
      ctx.addIssue({ code: 'custom', message: 'a public client cannot use client_credentials' });
    }
    if (c.grant_types.includes('authorization_code') && c.redirect_uris.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['redirect_uris'],
        message: 'authorization_code needs at least one redirect URI',
      });
    }
  });

const throttleRule = z
  .object({
    /** failed attempts allowed before delays start */
    free_attempts: z.number().int().min(1).max(1000),
    /** the first delay; each further failure doubles it */
    base_delay: duration,
    max_delay: duration,
    /** failures older than this are forgotten */
    window: duration,
  })
  .strict();

export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(1).max(65535).default(9000),
        issuer: absoluteUrl.default('http://localhost:9000'),
        trust_proxy: z.array(cidr).default([]),
      })
      .strict()
      .prefault({}),
    storage: z
      .object({
        data_dir: z.string().min(1).default('./data'),
        /** where durable data lives: the embedded SQLite file in data_dir, or PostgreSQL at database_url */
        durable: z.enum(['sqlite', 'postgres']).default('sqlite'),
        /** postgres://user:password@host:port/database (also POORT_DATABASE_URL); required for durable: postgres */
        database_url: postgresUrl.optional(),
        postgres: postgresPoolSchema.prefault({}),
        /** where ephemeral state lives: the embedded SQLite file in data_dir, or Redis at redis_url */
        ephemeral: z.enum(['sqlite', 'redis']).default('sqlite'),
        /** redis://[user[:password]@]host[:port][/db] or rediss:// for TLS (also POORT_REDIS_URL); required for ephemeral: redis */
        redis_url: redisUrl.optional(),
        redis: redisConnectionSchema.prefault({}),
        /** put in front of every Redis key, so that several installations can share one Redis */
        redis_prefix: z.string().default('poort:'),
      })
      .strict()
      .prefault({}),
    keys: z
      .object({
        dir: z.string().min(1).default('./keys'),
        activation_delay: duration.default(120),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .prefault({}),
    organisation: z
      .object({
        name: z.string().min(1).default('Poort'),
        default_language: z.enum(['en', 'nl']).default('en'),
      })
      .strict()
      .prefault({}),
    passwords: z
      .object({
        argon2: z
          .object({
            memory_kib: z.number().int().min(8192).max(4194304).default(19456),
            iterations: z.number().int().min(1).max(100).default(2),
            parallelism: z.number().int().min(1).max(16).default(1),
          })
          .strict()
          .prefault({}),
        policy: z
          .object({
            min_length: z.number().int().min(8).max(256).default(12),
            max_length: z.number().int().min(16).max(1024).default(256),
            reject_common: z.boolean().default(true),
            reject_user_info: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
        reset: z
          .object({
            link_lifetime: duration.default(24 * 3600),
            email: emailSenderSchema.optional(),
            /** "Forgot your password?" on the sign-in page: people e-mail themselves a reset link */
            self_service: z
              .object({
                enabled: z.boolean().default(false),
                link_lifetime: duration.default(3600),
                /** requests per name as typed (known or not), so that nobody fills someone's mailbox */
                account: throttleRule.prefault({
                  free_attempts: 3,
                  base_delay: '15m',
                  max_delay: '1h',
                  window: '1h',
                }),
                ip: throttleRule.prefault({
                  free_attempts: 50,
                  base_delay: '1m',
                  max_delay: '1h',
                  window: '1h',
                }),
              })
              .strict()
              .prefault({}),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    throttle: z
      .object({
        account: throttleRule.prefault({
          free_attempts: 5,
          base_delay: '2s',
          max_delay: '15m',
          window: '1h',
        }),
        ip: throttleRule.prefault({ free_attempts: 50, base_delay: '1s', max_delay: '5m', window: '1h' }),
      })
      .strict()
      .prefault({}),
    oidc: z
      .object({
        ttl: z
          .object({
            access_token: duration.default(3600),
            id_token: duration.default(3600),
            authorization_code: duration.default(60),
            refresh_token: duration.default(14 * 86400),
            client_credentials: duration.default(3600),
            session: duration.default(14 * 86400),
            interaction: duration.default(3600),
            grant: duration.default(14 * 86400),
          })
          .strict()
          .prefault({}),
        acr: z
          .object({
            password: z.string().min(1).default('urn:poort:acr:password'),
            mfa: z.string().min(1).default('urn:poort:acr:mfa'),
            phishing_resistant: z.string().min(1).default('urn:poort:acr:phishing-resistant'),
          })
          .strict()
          .prefault({}),
        clients: z.array(staticClientSchema).default([]),
      })
      .strict()
      .prefault({}),
    mfa: z
      .object({
        /** when a second factor is asked for without any policy rule: never, for users who have one, or always */
        required: z.enum(['never', 'enrolled', 'always']).default('enrolled'),
        enrolment_at_signin: z
          .object({
            /** networks from which someone without a factor may enrol during sign-in */
            networks: z.array(cidr).default([]),
            /** or anywhere, with a one-time enrolment code from the helpdesk */
            with_enrolment_code: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
        /** the kinds offered for enrolment, strongest first */
        kinds: z.array(z.enum(['webauthn', 'totp', 'email', 'sms'])).default(['webauthn', 'totp']),
        webauthn: webauthnConfigSchema.prefault({}),
        otp: otpConfigSchema.prefault({}),
      })
      .strict()
      .prefault({}),
    /** what contextual policies learn about an attempt beyond its address and user agent */
    policy_context: z
      .object({
        /** the header a trusted TLS-terminating proxy puts the client certificate's SHA-256 fingerprint in */
        managed_device_header: z
          .string()
          .regex(/^[A-Za-z0-9-]{1,64}$/, {
            message: 'expected an HTTP header name such as X-Client-Cert-SHA256',
          })
          .default('X-Client-Cert-SHA256')
          .transform((name) => name.toLowerCase()),
        /** "remember this device": a signed cookie after a multi-factor sign-in, for `device.known` conditions */
        known_device: z
          .object({
            enabled: z.boolean().default(true),
            days: z.number().int().min(1).max(400).default(30),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    notifications: z
      .object({
        /**
         * e-mail users when their password, second factors or recovery codes change, whoever changed them (through
         * passwords.reset.email, else mfa.otp.email)
         */
        security_changes: z.boolean().default(false),
        /**
         * e-mail users when their account signs in with a browser it has not signed in with before (a cookie of a
         * year remembers the browsers), with the browser, place and address, so that someone else's sign-in with
         * their password is noticed (through the same sender)
         */
        new_sign_ins: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    /** an LDAP server or Active Directory whose users sign in with their directory password; absent: none */
    admin: adminConfigSchema.prefault({}),
    scim: scimConfigSchema.prefault({}),
    ldap: ldapConfigSchema.optional(),
    /** OpenID providers (Entra ID, …) whose users sign in there: a button each on the sign-in page */
    upstream_providers: upstreamProvidersSchema.default([]),
    audit: auditConfigSchema.prefault({}),
    saml: samlConfigSchema.prefault({}),
    policies: z
      .object({
        /** the sign-in policy until `poort policy set` stores one (relative to this file); default: the shipped one */
        file: z.string().min(1).optional(),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type StaticClientConfig = z.infer<typeof staticClientSchema>;
export type ThrottleRule = z.infer<typeof throttleRule>;
