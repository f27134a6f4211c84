import { z } from 'zod';

/**
 * Provisioning over SCIM 2.0 (RFC 7643, 7644) at <issuer>/scim/v2: the HR system, or the connector in front of it,
 * creates, updates, disables and removes local users. It authenticates with an access token of one of `clients`,
 * from Poort's token endpoint (client credentials). No clients: no SCIM.
 */
export const scimConfigSchema = z
  .object({
    /** the client ids (registered with `poort client add … --grant-types client_credentials`) that may provision */
    clients: z.array(z.string().min(1)).default([]),
  })
  .strict();

export type ScimConfig = z.infer<typeof scimConfigSchema>;
