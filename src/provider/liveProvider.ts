// The broker's oidc-provider as it follows the keys in the database, so that a
// key rotated through any instance (CLI, admin API) reaches every instance
// without a restart. oidc-provider fixes its signing keystore when it is
// constructed, so a change of signing keys builds a new Provider from the same
// configuration and swaps it in; everything else keeps one stable handle.
// Cookie keys change in place. A check runs every KEY_REFRESH_INTERVAL, which
// bounds how long instances can disagree.
import { createHash } from 'node:crypto';
import type { Context, Middleware, Next } from 'koa';
import mount from 'koa-mount';
import type { JWK } from 'jose';
import type Provider from 'oidc-provider';
import { createCookieSigner, type CookieSigner } from '../secrets.ts';
import type { KeyManager } from './keys.ts';

export interface LiveProviderOptions {
  keys: KeyManager;
  /** Builds a provider (with its event listeners) signing with these keys. */
  build(jwks: { keys: JWK[] }, cookieKeys: string[]): Provider;
  /** Told of every change of the keys in force, after the swap. */
  onChange?(change: { signingKeys: boolean; cookieKeys: boolean; kids: string[] }): void;
}

/**
 * Whether `property` is a plain method somewhere on the object's prototype
 * chain. Methods are bound to the current provider (its private state is keyed
 * by the instance); accessors such as `provider.Client` return classes and
 * must stay unbound so that their static methods remain reachable.
 */
function isMethod(object: object, property: string | symbol): boolean {
  for (let prototype = Object.getPrototypeOf(object); prototype; prototype = Object.getPrototypeOf(prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, property);
    if (descriptor) return typeof descriptor.value === 'function';
  }
  return false;
}

const digest = (values: string[]): string => createHash('sha256').update(values.join('\u0000')).digest('base64url');

export class LiveProvider {
  /** The current provider behind one stable reference: hand this to the routes. */
  readonly provider: Provider;
  /** The cookie keys in force, first signs; the array is updated in place. */
  readonly cookieKeys: string[];
  /** Signs and checks cookies with `cookieKeys` as they are at each call (Koa apps take it as `keys`). */
  readonly cookieSigner: CookieSigner;
  readonly #options: LiveProviderOptions;
  #current: Provider;
  #mounted: Middleware;
  #signingVersion: string;
  #cookieVersion: string;
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<boolean> | undefined;

  private constructor(options: LiveProviderOptions, current: Provider, cookieKeys: string[], signingVersion: string) {
    this.#options = options;
    this.#current = current;
    this.#mounted = mount(current);
    this.cookieKeys = cookieKeys;
    this.cookieSigner = createCookieSigner(cookieKeys);
    current.keys = this.cookieSigner;
    this.#signingVersion = signingVersion;
    this.#cookieVersion = digest(cookieKeys);
    const live = this;
    this.provider = new Proxy(current, {
      get(_target, property) {
        const target = live.#current;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' && isMethod(target, property) ? (value as (...parameters: unknown[]) => unknown).bind(target) : value;
      },
      set(_target, property, value) {
        return Reflect.set(live.#current, property, value, live.#current);
      },
    });
  }

  static async create(options: LiveProviderOptions): Promise<LiveProvider> {
    const records = await options.keys.signingKeysInForce();
    const cookieKeys = await options.keys.cookieKeys();
    const provider = options.build(await options.keys.privateJwks(records), cookieKeys);
    return new LiveProvider(options, provider, cookieKeys, digest(records.map((key) => key.kid)));
  }

  /** Koa middleware serving the provider in force. */
  middleware(): Middleware {
    return (ctx: Context, next: Next) => this.#mounted(ctx, next);
  }

  /** Reads the keys in force; swaps what changed. Resolves true when something did. */
  refresh(): Promise<boolean> {
    // One refresh at a time: a slow database must not pile checks up.
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  async #refresh(): Promise<boolean> {
    const records = await this.#options.keys.signingKeysInForce();
    const cookieKeys = await this.#options.keys.cookieKeys();
    const signingVersion = digest(records.map((key) => key.kid));
    const cookieVersion = digest(cookieKeys);
    const signingChanged = signingVersion !== this.#signingVersion;
    const cookiesChanged = cookieVersion !== this.#cookieVersion;
    if (!signingChanged && !cookiesChanged) return false;
    if (cookiesChanged) this.cookieKeys.splice(0, this.cookieKeys.length, ...cookieKeys);
    if (signingChanged) {
      const next = this.#options.build(await this.#options.keys.privateJwks(records), this.cookieKeys);
      next.keys = this.cookieSigner;
      this.#current = next;
      this.#mounted = mount(next);
    }
    this.#signingVersion = signingVersion;
    this.#cookieVersion = cookieVersion;
    this.#options.onChange?.({ signingKeys: signingChanged, cookieKeys: cookiesChanged, kids: records.map((key) => key.kid) });
    return true;
  }

  /** Checks every `intervalSeconds`; errors go to `onError` and the next check tries again. */
  start(intervalSeconds: number, onError: (error: unknown) => void): void {
    this.stop();
    this.#timer = setInterval(() => void this.refresh().catch(onError), intervalSeconds * 1000);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
