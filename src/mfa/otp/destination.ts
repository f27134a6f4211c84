/** Where one-time codes go: an e-mail address or a phone number in E.164 form. Pure functions, no I/O. */
export type Channel = 'email' | 'sms';

const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const DOMAIN =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

/** An e-mail address as typed, checked and with its domain in lower case; undefined when it is not one. */
export function parseEmail(input: string): string | undefined {
  const value = input.trim();
  if (value.length > 254) return undefined;
  const at = value.lastIndexOf('@');
  if (at < 1) return undefined;
  const local = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (local.length > 64 || !LOCAL_PART.test(local) || !DOMAIN.test(domain)) return undefined;
  return `${local}@${domain.toLowerCase()}`;
}

/**
 * A phone number in E.164 form: `+`, then 8 to 15 digits, the first not 0. Spaces, dashes, dots and brackets as
 * people write them are dropped; a national number without its country code is refused, as it cannot be routed.
 */
export function parsePhone(input: string): string | undefined {
  const value = input.trim().replace(/[\s.()-]/g, '');
  return /^\+[1-9]\d{7,14}$/.test(value) ? value : undefined;
}

export function parseDestination(channel: Channel, input: string): string | undefined {
  return channel === 'email' ? parseEmail(input) : parsePhone(input);
}

/** ITU-T E.164 country codes of one and two digits; all others have three. */
const SHORT_COUNTRY_CODES = new Set([
  '1',
  '7',
  '20',
  '27',
  '30',
  '31',
  '32',
  '33',
  '34',
  '36',
  '39',
  '40',
  '41',
  '43',
  '44',
  '45',
  '46',
  '47',
  '48',
  '49',
  '51',
  '52',
  '53',
  '54',
  '55',
  '56',
  '57',
  '58',
  '60',
  '61',
  '62',
  '63',
  '64',
  '65',
  '66',
  '81',
  '82',
  '84',
  '86',
  '90',
  '91',
  '92',
  '93',
  '94',
  '95',
  '98',
]);

function countryCode(digits: string): string {
  for (const length of [1, 2]) {
    const candidate = digits.slice(0, length);
    if (SHORT_COUNTRY_CODES.has(candidate)) return candidate;
  }
  return digits.slice(0, 3);
}

/** Enough of an address to recognise it, not enough to learn it: `a***@example.org`. */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf('@');
  if (at < 1) return '***';
  return `${address[0]}***${address.slice(at)}`;
}

/** The country code, the first and the last two digits: `+31 6 *** ** 78`. */
export function maskPhone(number: string): string {
  const digits = number.replace(/\D/g, '');
  const cc = countryCode(digits);
  const national = digits.slice(cc.length);
  if (national.length < 4) return `+${cc} *** **`;
  return `+${cc} ${national[0]} *** ** ${national.slice(-2)}`;
}

export function maskDestination(channel: Channel, destination: string): string {
  return channel === 'email' ? maskEmail(destination) : maskPhone(destination);
}
