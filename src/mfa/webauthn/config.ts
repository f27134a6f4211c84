import { z } from 'zod';
import { duration } from '../../config/duration.js';

/** `mfa.webauthn`: passkeys and security keys. */
export const webauthnConfigSchema = z
  .object({
    /** the relying party name shown by the browser; defaults to the organisation name */
    rp_name: z.string().min(1).optional(),
    /** offer sign-in with a passkey instead of a password on the sign-in page */
    passkey_signin: z.boolean().default(true),
    /** how long the browser waits for the authenticator, and how long its challenge stays valid */
    timeout: duration.pipe(z.number().min(30).max(600)).default(300),
  })
  .strict();

export type WebauthnConfig = z.infer<typeof webauthnConfigSchema>;
