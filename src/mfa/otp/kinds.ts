import { ConfigError } from '../../config/load.js';
import type { Logger } from '../../log/logger.js';
import { createSender } from '../../notify/create.js';
import { errorMessage } from '../../notify/sender.js';
import type { Services } from '../../server/services.js';
import { OneTimeCodes } from './codes.js';
import type { Channel } from './destination.js';
import { OtpFactor } from './factor.js';
import { SendLimiter } from './send-limit.js';

/**
 * The e-mail and SMS factors this Poort can offer: one for each channel with a sender under `mfa.otp`. Offering a
 * kind for enrolment (`mfa.kinds`) without a way to send its codes is a configuration error, found at start-up.
 */
export function otpFactors(
  services: Services,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): OtpFactor[] {
  const { config, configFile } = services;
  const otp = config.mfa.otp;
  const codes = new OneTimeCodes(services.kv, services.hasher, {
    lifetime: otp.code_lifetime,
    maxTries: otp.max_tries,
    keep: config.oidc.ttl.interaction,
  });
  const limiter = new SendLimiter(services.kv, {
    perUser: otp.send_limit.per_user,
    perIp: otp.send_limit.per_ip,
    window: otp.send_limit.window,
  });
  const message = {
    language: config.organisation.default_language,
    organisation: config.organisation.name,
    lifetime: otp.code_lifetime,
  };
  const factors: OtpFactor[] = [];
  for (const kind of ['email', 'sms'] as const satisfies readonly Channel[]) {
    const senderConfig = otp[kind];
    const where = `mfa.otp.${kind}`;
    if (!senderConfig) {
      if (config.mfa.kinds.includes(kind)) {
        throw new ConfigError(
          `${configFile}: mfa.kinds: "${kind}" is offered, but ${where} does not say how to send its codes`,
        );
      }
      continue;
    }
    let sender;
    try {
      sender = createSender(kind, senderConfig, { log, dataDir: config.storage.data_dir, where, env });
    } catch (err) {
      throw new ConfigError(`${configFile}: ${errorMessage(err)}`);
    }
    factors.push(new OtpFactor({ kind, factors: services.factors, codes, limiter, sender, message, log }));
  }
  return factors;
}
