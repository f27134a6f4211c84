/**
 * A small browser over fetch: a cookie jar per host and path (as browsers keep them: not per port), manual redirects, and form reading, enough to walk
 * the sign-in pages as a person would, without JavaScript (the pages need none).
 */
export interface Page {
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

interface Cookie {
  name: string;
  value: string;
  path: string;
  /** the host that set it; it goes back to that host only */
  host: string;
}

/** The jar's key of a cookie: one per host, name and path. */
export function cookieKey(host: string, name: string, path: string): string {
  return `${host}|${name}|${path}`;
}

export class Browser {
  readonly cookies = new Map<string, Cookie>();
  constructor(readonly headers: Record<string, string> = {}) {}

  private cookieHeader(url: URL): string {
    return [...this.cookies.values()]
      .filter((c) => c.host === url.hostname && url.pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private store(res: Response, host: string): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair = '', ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const pathAttr = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='));
      const cookiePath = pathAttr ? pathAttr.slice(5) : '/';
      const expired = attrs.some(
        (a) => /max-age=0\b/i.test(a.trim()) || /expires=thu, 01 jan 1970/i.test(a.trim()),
      );
      const key = cookieKey(host, name, cookiePath);
      if (expired || value === '') this.cookies.delete(key);
      else this.cookies.set(key, { name, value, path: cookiePath, host });
    }
  }

  /** One request, no redirects followed. */
  async request(
    url: string,
    init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
  ): Promise<Page> {
    const target = new URL(url);
    const headers: Record<string, string> = {
      accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8',
      ...this.headers,
      ...init.headers,
    };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(target, {
      method: init.method ?? (body ? 'POST' : 'GET'),
      headers,
      body,
      redirect: 'manual',
    });
    this.store(res, target.hostname);
    return { url: target.href, status: res.status, headers: res.headers, body: await res.text() };
  }

  /**
   * Follows redirects until a page is shown or the browser is sent to `stopAt` (an application's callback,
   * which is not served): then that URL is returned as the page's url with status 0.
   */
  async navigate(
    url: string,
    init: { method?: string; form?: Record<string, string> } = {},
    stopAt?: string,
  ): Promise<Page> {
    let page = await this.request(url, init);
    for (let hops = 0; hops < 20; hops++) {
      const location = page.headers.get('location');
      if (!location || page.status < 300 || page.status >= 400) return page;
      const next = new URL(location, page.url).href;
      if (stopAt && next.startsWith(stopAt))
        return { url: next, status: 0, headers: new Headers(), body: '' };
      page = await this.request(next);
    }
    throw new Error('too many redirects');
  }
}

/**
 * The first form on a page (or the one with `id`): its action (absolute) and its inputs with values, as a browser
 * sends them. `submitter` names a button of the form (`name=value`) that is clicked: it is sent too, as a browser
 * sends the button that submitted the form; the form must have it.
 */
export function readForm(
  page: Page,
  id?: string,
  submitter?: string,
): { action: string; fields: Record<string, string> } {
  const forms = [...page.body.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)];
  const match = id ? forms.find((f) => f[1]!.includes(`id="${id}"`)) : forms[0];
  if (!match) throw new Error(`no form on ${page.url} (status ${page.status}):\n${page.body.slice(0, 500)}`);
  const action = /action="([^"]*)"/.exec(match[1]!)?.[1] ?? page.url;
  const fields: Record<string, string> = {};
  for (const input of match[2]!.matchAll(/<input\b([^>]*)>/g)) {
    const name = /name="([^"]*)"/.exec(input[1]!)?.[1];
    const value = /value="([^"]*)"/.exec(input[1]!)?.[1] ?? '';
    // a checkbox or radio button that is not checked is not sent
    if (/type="(checkbox|radio)"/.test(input[1]!) && !/\bchecked\b/.test(input[1]!)) continue;
    if (name) fields[name] = decodeEntities(value);
  }
  if (submitter) {
    const buttons = [...match[2]!.matchAll(/<button\b([^>]*)>/g)].map((b) => {
      const attr = (a: string) => decodeEntities(new RegExp(`${a}="([^"]*)"`).exec(b[1]!)?.[1] ?? '');
      return `${attr('name')}=${attr('value')}`;
    });
    if (!buttons.includes(submitter)) throw new Error(`no button ${submitter} in the form on ${page.url}`);
    const [name, value] = submitter.split('=') as [string, string];
    fields[name] = value;
  }
  return { action: new URL(decodeEntities(action), page.url).href, fields };
}

export function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_m, h: string) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_m, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
