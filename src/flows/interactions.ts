// What every interaction route needs from oidc-provider: the interaction
// behind this browser's cookie, its client, and a way to finish it.
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Clock } from '../clock.ts';
import { invalidRequest, sessionExpired } from '../errors.ts';
import type { Logger } from '../logging.ts';
import type { Store } from '../store/store.ts';
import type { Upstreams } from '../upstream/upstreams.ts';
import type { PageRenderer } from '../web/pages.ts';
import type { CsrfTokens } from '../web/csrf.ts';

/** What every set of interaction routes (sign-in, association) is built with. */
export interface FlowDependencies {
  provider: Provider;
  /** The configured upstreams, in the sign-in page's order. */
  upstreams: Upstreams;
  store: Store;
  pages: PageRenderer;
  csrf: CsrfTokens;
  clock: Clock;
  logger: Logger;
  issuer: string;
  supportEmail: string;
  /** How long an upstream round trip may take, in milliseconds. */
  upstreamTransactionTtl: number;
}

export type InteractionDetails = Awaited<ReturnType<Provider['interactionDetails']>>;
export type InteractionResult = Parameters<Provider['interactionResult']>[2];
export type ProviderClient = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;

/**
 * Where the upstream sends every sign-in back, the portal's and an
 * association link's alike: one redirect URI registered at Microsoft; the
 * stored upstream round trip says which flow it belongs to.
 */
export const upstreamCallbackPath = '/upstream/callback';

/** The factory lives with the other errors (src/errors.ts); kept here for the flows that import it from this module. */
export { sessionExpired } from '../errors.ts';


export interface InteractionHelpers {
  /** The interaction of this browser; throws unless it is the one the path names. */
  load(ctx: Context): Promise<InteractionDetails>;
  client(details: InteractionDetails): Promise<ProviderClient>;
  /** Finishes the interaction and redirects back to the authorization endpoint. */
  finish(ctx: Context, result: InteractionResult): Promise<void>;
}

export function interactionHelpers(provider: Provider): InteractionHelpers {
  return {
    async load(ctx) {
      const details = await provider.interactionDetails(ctx.req, ctx.res);
      if (details.uid !== ctx.params.uid) throw sessionExpired(`interaction cookie is for ${details.uid}, path names ${String(ctx.params.uid)}`);
      return details;
    },
    async client(details) {
      const client = await provider.Client.find(String(details.params.client_id));
      if (!client) throw invalidRequest('error.client_gone', { detail: `client ${String(details.params.client_id)} vanished` });
      return client;
    },
    async finish(ctx, result) {
      const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
      ctx.status = 303;
      ctx.redirect(returnTo);
    },
  };
}

/** A query parameter as one bounded string, or undefined. */
export function queryValue(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 2048 ? value : undefined;
}

/**
 * What the steps of a route set stand on (association.ts, signIn.ts): their
 * dependencies, the service they wrap, and the interaction helpers.
 */
export abstract class InteractionSteps<Dependencies extends { provider: Provider }, Service> {
  protected readonly dependencies: Dependencies;
  protected readonly service: Service;
  protected readonly interactions: InteractionHelpers;

  constructor(dependencies: Dependencies, service: Service) {
    this.dependencies = dependencies;
    this.service = service;
    this.interactions = interactionHelpers(dependencies.provider);
  }
}
