import type { Config } from '../config/schema.js';
import { translator, type Language } from '../http/i18n.js';
import type { Logger } from '../log/logger.js';
import { createSender } from '../notify/create.js';
import { personParams } from '../notify/message-params.js';
import type { Message, MessageSender } from '../notify/sender.js';
import type { ResetOrigin } from './password-reset.js';

/** Where password reset links are e-mailed from: passwords.reset.email, else mfa.otp.email; undefined when neither. */
export function resetLinkSender(
  config: Pick<Config, 'passwords' | 'mfa' | 'storage'>,
  log: Logger,
  env: NodeJS.ProcessEnv = process.env,
): MessageSender | undefined {
  const own = config.passwords.reset.email;
  const senderConfig = own ?? config.mfa.otp.email;
  if (!senderConfig) return undefined;
  return createSender('email', senderConfig, {
    log,
    dataDir: config.storage.data_dir,
    where: own ? 'passwords.reset.email' : 'mfa.otp.email',
    env,
  });
}

/**
 * The e-mail with a reset link, in `settings.language`: the organisation's for the helpdesk's links (the person's
 * own is not known where it is sent), the page's for a self-service request. It says who asked (the helpdesk, or someone on the sign-in page), how long the link works, that the current
 * password keeps working meanwhile, and what to do when the person did not ask for it.
 */
export function resetLinkMessage(
  settings: { language: Language; organisation: string },
  user: { username: string; name?: string | null | undefined },
  link: string,
  expiresAt: string,
  origin: ResetOrigin = 'helpdesk',
): Message {
  const t = translator(settings.language);
  const params = {
    ...personParams(settings, user),
    link,
    expires: expiresAt.slice(0, 16).replace('T', ' '),
  };
  if (origin === 'welcome')
    return {
      subject: t('password.welcome.message.subject', params),
      text: t('password.welcome.message.email', params),
    };
  return {
    subject: t('password.reset.message.subject', params),
    text: t(origin === 'self' ? 'password.forgot.message.email' : 'password.reset.message.email', params),
  };
}

/**
 * The answer to a "Forgot your password?" request for a user whose password an external directory keeps (LDAP, an
 * upstream provider): no link could change it, so the e-mail says where to change it instead.
 */
export function directoryPasswordMessage(
  settings: { language: Language; organisation: string },
  user: { username: string; name?: string | null | undefined },
): Message {
  const t = translator(settings.language);
  const params = personParams(settings, user);
  return {
    subject: t('password.forgot.directory.subject', params),
    text: t('password.forgot.directory.email', params),
  };
}
