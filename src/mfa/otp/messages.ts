import { translator, type Language } from '../../http/i18n.js';
import type { Message } from '../../notify/sender.js';
import type { Channel } from './destination.js';

export interface MessageSettings {
  language: Language;
  organisation: string;
  /** seconds */
  lifetime: number;
}

/** How long a code is valid as a locale key and its number: whole minutes where it is, else seconds. */
export function lifetimeParts(seconds: number): { key: string; n: number } {
  if (seconds % 60 === 0) {
    const n = seconds / 60;
    return { key: n === 1 ? 'otp.lifetime.minute' : 'otp.lifetime.minutes', n };
  }
  return { key: seconds === 1 ? 'otp.lifetime.second' : 'otp.lifetime.seconds', n: seconds };
}

/** "5 minutes", "90 seconden": how long a code is valid, in words. */
export function lifetimeText(seconds: number, language: Language): string {
  const { key, n } = lifetimeParts(seconds);
  return translator(language)(key, { n });
}

/**
 * The message with a code: to sign in, or to confirm a new address or number. In the organisation's language, as
 * the person's own language is not known where the code is sent.
 */
export function codeMessage(
  channel: Channel,
  purpose: 'signin' | 'enrol',
  code: string,
  settings: MessageSettings,
): Message {
  const t = translator(settings.language);
  const params = {
    code,
    organisation: settings.organisation,
    lifetime: lifetimeText(settings.lifetime, settings.language),
  };
  if (channel === 'sms') return { text: t(`otp.message.${purpose}.sms`, params) };
  return {
    subject: t(`otp.message.${purpose}.subject`, params),
    text: t(`otp.message.${purpose}.email`, params),
  };
}
