import { describe, expect, it } from 'vitest';
import { languageLinks, negotiateLanguage, readCookie, translator } from '../../src/http/i18n.js';

describe('language negotiation', () => {
  it('prefers ?lang=, then the cookie, then Accept-Language, then the default', () => {
    expect(negotiateLanguage({ query: 'nl', cookie: 'en', acceptLanguage: 'en' }, 'en')).toBe('nl');
    expect(negotiateLanguage({ query: 'xx', cookie: 'nl', acceptLanguage: 'en' }, 'en')).toBe('nl');
    expect(negotiateLanguage({ cookie: 'xx', acceptLanguage: 'nl-BE' }, 'en')).toBe('nl');
    expect(negotiateLanguage({ acceptLanguage: 'de' }, 'nl')).toBe('nl');
    expect(negotiateLanguage({}, 'en')).toBe('en');
  });

  it('reads Accept-Language by weight and skips q=0', () => {
    expect(negotiateLanguage({ acceptLanguage: 'en;q=0.4, nl;q=0.8' }, 'en')).toBe('nl');
    expect(negotiateLanguage({ acceptLanguage: 'nl;q=0, en;q=0.1' }, 'nl')).toBe('en');
    expect(negotiateLanguage({ acceptLanguage: '*, ;;;, nl' }, 'en')).toBe('nl');
  });
});

describe('translations', () => {
  it('fills parameters, and falls back to English, then to the key', () => {
    const nl = translator('nl');
    expect(nl('signin.error.throttled', { seconds: 3 })).toBe(
      'Te veel pogingen. Probeer het over 3 seconden opnieuw.',
    );
    expect(nl('no.such.key')).toBe('no.such.key');
    expect(translator('en')('signin.to_client', {})).toBe('You are signing in to {client}.');
  });

  it('links to the same page in each language', () => {
    expect(languageLinks('nl', '/signin/abc?x=1&lang=nl')).toEqual([
      { code: 'en', label: 'English', href: '/signin/abc?x=1&lang=en', current: false },
      { code: 'nl', label: 'Nederlands', href: '/signin/abc?x=1&lang=nl', current: true },
    ]);
  });
});

describe('readCookie', () => {
  it('finds one cookie by name, decoded', () => {
    expect(readCookie('a=1; poort_lang=nl; b=2', 'poort_lang')).toBe('nl');
    expect(readCookie('x_poort_lang=en; poort_lang=nl%20x', 'poort_lang')).toBe('nl x');
    expect(readCookie(undefined, 'poort_lang')).toBeUndefined();
    expect(readCookie('poort_lang', 'poort_lang')).toBeUndefined();
  });
});
