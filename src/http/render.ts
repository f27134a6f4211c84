import type { IncomingMessage, ServerResponse } from 'node:http';
import nunjucks from 'nunjucks';
import { viewsDir } from '../paths.js';
import {
  LANG_COOKIE,
  languageLinks,
  negotiateLanguage,
  readCookie,
  translator,
  type Language,
  type Translate,
} from './i18n.js';

const env = new nunjucks.Environment(new nunjucks.FileSystemLoader(viewsDir, { noCache: false }), {
  autoescape: true,
  throwOnUndefined: false,
});

export interface PageContext {
  lang: Language;
  t: Translate;
  organisation: string;
  languages: ReturnType<typeof languageLinks>;
}

/** Everything a page needs to speak the visitor's language; also remembers an explicit ?lang= choice in a cookie. */
export function pageContext(
  req: IncomingMessage,
  res: ServerResponse,
  settings: { organisation: string; defaultLanguage: Language; secureCookies: boolean },
  /** the GET address of this page, when the request was a POST */
  pagePath?: string,
): PageContext {
  const url = new URL(req.url ?? '/', 'http://x');
  const query = url.searchParams.get('lang');
  const lang = negotiateLanguage(
    {
      query,
      cookie: readCookie(req.headers.cookie, LANG_COOKIE),
      acceptLanguage: req.headers['accept-language'],
    },
    settings.defaultLanguage,
  );
  if (query === lang && !res.headersSent) {
    res.appendHeader(
      'Set-Cookie',
      `${LANG_COOKIE}=${lang}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly${settings.secureCookies ? '; Secure' : ''}`,
    );
  }
  return {
    lang,
    t: translator(lang),
    organisation: settings.organisation,
    languages: languageLinks(lang, pagePath ?? req.url ?? '/'),
  };
}

export function renderPage(view: string, page: PageContext, vars: Record<string, unknown> = {}): string {
  return env.render(`${view}.njk`, { ...vars, ...page });
}
