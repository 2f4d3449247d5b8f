// A small browser for end-to-end tests: fetch with a cookie jar (per host,
// ignoring ports like real browsers), manual redirects, form posts, and a way
// to follow redirects until the relying party's callback is reached.

interface StoredCookie {
  name: string;
  value: string;
  path: string;
  host: string;
}

export interface Page {
  status: number;
  url: string;
  headers: Headers;
  body: string;
}

export class Browser {
  readonly #cookies: StoredCookie[] = [];
  /** The HTTP client: the platform's fetch, or one that routes a host name elsewhere (test/support/microsoftImitation.ts). */
  readonly #fetch: typeof fetch;

  constructor(options: { fetch?: typeof fetch } = {}) {
    this.#fetch = options.fetch ?? fetch;
  }
  /** Headers sent with every request (Accept-Language, for one). */
  readonly headers: Record<string, string> = {};

  #store(url: URL, response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';');
      const separator = pair!.indexOf('=');
      const name = pair!.slice(0, separator).trim();
      const value = pair!.slice(separator + 1).trim();
      let path = '/';
      let expired = false;
      for (const attribute of attributes) {
        const [key, attributeValue = ''] = attribute.trim().split('=');
        if (key!.toLowerCase() === 'path') path = attributeValue || '/';
        if (key!.toLowerCase() === 'expires' && new Date(attributeValue).getTime() < Date.now()) expired = true;
        if (key!.toLowerCase() === 'max-age' && Number(attributeValue) <= 0) expired = true;
      }
      const index = this.#cookies.findIndex((cookie) => cookie.name === name && cookie.path === path && cookie.host === url.hostname);
      if (index >= 0) this.#cookies.splice(index, 1);
      if (!expired) this.#cookies.push({ name, value, path, host: url.hostname });
    }
  }

  cookieHeader(url: URL): string {
    return this.#cookies
      .filter((cookie) => cookie.host === url.hostname && (url.pathname === cookie.path || url.pathname.startsWith(cookie.path.endsWith('/') ? cookie.path : `${cookie.path}/`) || cookie.path === '/'))
      .map((cookie) => `${cookie.name}=${cookie.value}`)
      .join('; ');
  }

  cookieNames(): string[] {
    return this.#cookies.map((cookie) => cookie.name);
  }

  cookies(): Array<{ name: string; value: string }> {
    return this.#cookies.map(({ name, value }) => ({ name, value }));
  }

  async request(url: string, init: { method?: string; form?: Record<string, string> | URLSearchParams; headers?: Record<string, string> } = {}): Promise<Page> {
    const target = new URL(url);
    const headers: Record<string, string> = { accept: 'text/html', ...this.headers, ...init.headers };
    const cookie = this.cookieHeader(target);
    if (cookie) headers.cookie = cookie;
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const response = await this.#fetch(target, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    this.#store(target, response);
    return { status: response.status, url: target.href, headers: response.headers, body: await response.text() };
  }

  get(url: string): Promise<Page> {
    return this.request(url);
  }

  /** Posts a form; URLSearchParams for a name given several times (checkboxes). */
  post(url: string, form: Record<string, string> | URLSearchParams): Promise<Page> {
    return this.request(url, { form });
  }

  /**
   * Follows redirects (and oidc-provider's auto-submitting forms) from `url`
   * until a page that is not a redirect, or until the next location satisfies
   * `stopAt` (which is returned unfetched, like a callback the RP handles).
   */
  async follow(url: string, stopAt: (location: URL) => boolean = () => false, limit = 20): Promise<{ page: Page | undefined; location: URL | undefined }> {
    if (stopAt(new URL(url))) return { page: undefined, location: new URL(url) };
    let current = url;
    let page = await this.get(current);
    for (let step = 0; step < limit; step += 1) {
      let next: URL | undefined;
      let form: Record<string, string> | undefined;
      if (page.status >= 300 && page.status < 400 && page.headers.get('location')) {
        next = new URL(page.headers.get('location')!, current);
      } else {
        const autoForm = parseAutoSubmitForm(page.body);
        if (!autoForm) return { page, location: undefined };
        next = new URL(autoForm.action, current);
        form = autoForm.fields;
      }
      if (stopAt(next)) return { page: undefined, location: next };
      current = next.href;
      page = form ? await this.post(current, form) : await this.get(current);
    }
    throw new Error(`too many redirects from ${url}`);
  }
}

/** oidc-provider answers some steps with a self-submitting form. */
export function parseAutoSubmitForm(html: string): { action: string; fields: Record<string, string> } | undefined {
  if (!/document\.forms\[0\]\.submit\(\)|onload=.*submit|\.submit\(\)/.test(html)) return undefined;
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (!action) return undefined;
  const fields: Record<string, string> = {};
  for (const match of html.matchAll(/<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields[match[1]!] = decodeEntities(match[2]!);
  return { action: decodeEntities(action), fields };
}

export function formAction(html: string): string {
  const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
  if (!action) throw new Error('no form on the page');
  return decodeEntities(action);
}

export function hiddenField(html: string, name: string): string | undefined {
  const match = new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(html);
  return match ? decodeEntities(match[1]!) : undefined;
}

const decodeEntities = (value: string): string =>
  value.replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#x2F;/g, '/');

/** The landing page's "Sign in with a Microsoft account" link (guide step 1), when `html` is that page. */
export function signInContinueLink(html: string): string | undefined {
  const href = /<a[^>]*id="sign-in-continue"[^>]*href="([^"]+)"/.exec(html)?.[1];
  return href ? decodeEntities(href) : undefined;
}

/** The success page's "Continue to …" button (guide step 9 → 10), when `html` is that page in the browser that started the sign-in. */
export function successContinueLink(html: string): string | undefined {
  const href = /<a[^>]*id="continue"[^>]*href="([^"]+)"/.exec(html)?.[1];
  return href ? decodeEntities(href) : undefined;
}
