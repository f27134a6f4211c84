import { z } from 'zod';
import { duration } from '../../config/duration.js';
import { emailSenderSchema, smsSenderSchema } from '../../notify/config.js';

/** How many codes may be sent within `window`: per user (all their addresses and numbers together) and per client IP. */
const sendLimitSchema = z
  .object({
    per_user: z.number().int().min(1).max(1000).default(5),
    per_ip: z.number().int().min(1).max(100_000).default(20),
    window: duration
      .refine((s) => s >= 1 && s <= 86400, { message: 'expected a window between 1s and 1d' })
      .default(900),
  })
  .strict();

/** `mfa.otp`: one-time codes sent by e-mail or SMS. */
export const otpConfigSchema = z
  .object({
    /** how long a sent code is valid */
    code_lifetime: duration
      .refine((s) => s >= 1 && s <= 3600, { message: 'expected a lifetime between 1s and 1h' })
      .default(300),
    /** wrong guesses a code survives; then a new code must be sent */
    max_tries: z.number().int().min(1).max(20).default(5),
    send_limit: sendLimitSchema.prefault({}),
    /** how codes by e-mail are sent; without it the e-mail factor is not offered */
    email: emailSenderSchema.optional(),
    /** how codes by text message are sent; without it the SMS factor is not offered */
    sms: smsSenderSchema.optional(),
  })
  .strict();

export type OtpConfig = z.infer<typeof otpConfigSchema>;
export type SendLimitConfig = z.infer<typeof sendLimitSchema>;
