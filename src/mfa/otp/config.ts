import { z } from 'zod';
import { duration } from '../../config/duration.js';

/** `mfa.otp`: one-time codes sent by e-mail or SMS. */
export const otpConfigSchema = z
  .object({
    code_lifetime: duration.default(300),
    max_tries: z.number().int().min(1).max(20).default(5),
  })
  .strict();

export type OtpConfig = z.infer<typeof otpConfigSchema>;
