import fs from 'node:fs';
import path from 'node:path';
import { localesDir } from '../paths.js';

export const LANGUAGES = ['en', 'nl'] as const;
export type Language = (typeof LANGUAGES)[number];
const LABELS: Record<Language, string> = { en: 'English', nl: 'Nederlands' };
export const LANG_COOKIE = 'poort_lang';

const dictionaries = new Map<Language, Record<string, string>>();

/** locales/<lang>.json plus every locales/<lang>/*.json (one file per feature), merged. */
function dictionary(lang: Language): Record<string, string> {
  let dict = dictionaries.get(lang);
  if (!dict) {
    const read = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
    dict = read(path.join(localesDir, `${lang}.json`));
    const featureDir = path.join(localesDir, lang);
    const files = fs.existsSync(featureDir)
      ? fs.readdirSync(featureDir).filter((f) => f.endsWith('.json'))
      : [];
    for (const file of files.sort()) Object.assign(dict, read(path.join(featureDir, file)));
    dictionaries.set(lang, dict);
  }
  return dict;
}

export type Translate = (key: string, params?: Record<string, string | number | undefined>) => string;

/** A translation function; a missing key falls back to English, then to the key itself. */
export function translator(lang: Language): Translate {
  const dict = dictionary(lang);
  const fallback = dictionary('en');
  return (key, params) => {
    const text = dict[key] ?? fallback[key] ?? key;
    return params
      ? text.replace(/\{(\w+)\}/g, (m, name: string) =>
          params[name] !== undefined ? String(params[name]) : m,
        )
      : text;
  };
}

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (LANGUAGES as readonly string[]).includes(value);
}

/** The language of a request: an explicit ?lang=, then the cookie, then Accept-Language, then the default. */
export function negotiateLanguage(
  input: { query?: unknown; cookie?: string | undefined; acceptLanguage?: string | undefined },
  fallback: Language,
): Language {
  if (isLanguage(input.query)) return input.query;
  if (isLanguage(input.cookie)) return input.cookie;
  const ranked = (input.acceptLanguage ?? '')
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)/.exec(p)?.[1]).find(Boolean);
      return { lang: tag.toLowerCase().split('-')[0] ?? '', q: q ? Number(q) : 1 };
    })
    .filter((x) => x.q > 0)
    .sort((a, b) => b.q - a.q);
  return ranked.map((r) => r.lang).find(isLanguage) ?? fallback;
}

/** Links to the same page in each language, for the switcher in the footer. */
export function languageLinks(
  current: Language,
  pathAndQuery: string,
): Array<{ code: Language; label: string; href: string; current: boolean }> {
  const url = new URL(pathAndQuery, 'http://x');
  return LANGUAGES.map((code) => {
    url.searchParams.set('lang', code);
    return { code, label: LABELS[code], href: `${url.pathname}${url.search}`, current: code === current };
  });
}

/** Reads one cookie from a Cookie header without a parser dependency. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

/** A country's name in `lang` (`NL` → Nederland), or the code itself where the runtime knows no name for it. */
export function countryName(code: string, lang: string): string {
  try {
    return new Intl.DisplayNames([lang], { type: 'region' }).of(code) ?? code;
  } catch {
    return code;
  }
}
