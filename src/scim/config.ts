import { z } from 'zod';
import { duration } from '../config/duration.js';

/**
 * Provisioning over SCIM 2.0 (RFC 7643, 7644) at <issuer>/scim/v2: the HR system, or the connector in front of it,
 * creates, updates, disables and removes local users. It authenticates with an access token of one of `clients`,
 * from Poort's token endpoint (client credentials). No clients: no SCIM.
 */
export const scimConfigSchema = z
  .object({
    /** the client ids (registered with `poort client add … --grant-types client_credentials`) that may provision */
    clients: z.array(z.string().min(1)).default([]),
    /**
     * e-mail a new, active user a link to choose their password (through passwords.reset.email or mfa.otp.email,
     * when one is configured), valid for welcome_link_lifetime
     */
    welcome_email: z.boolean().default(true),
    welcome_link_lifetime: duration
      .default(7 * 86400)
      .refine((s) => s >= 3600 && s <= 30 * 86400, { message: 'expected between 1h and 30d' }),
  })
  .strict();

export type ScimConfig = z.infer<typeof scimConfigSchema>;
