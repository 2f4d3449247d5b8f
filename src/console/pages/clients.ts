// The clients pages (admin only): list and search the relying parties;
// register one (its secret shown once, with a copy button); edit its name,
// portal, redirect and logout URIs and grant types; disable or enable it;
// rotate its secret (a recent sign-in; the new secret shown once); delete
// it after a confirmation page; issue initial access tokens for dynamic
// registration. Bad input comes back beside its field and changes nothing.
import { translator } from '../../i18n.ts';
import { isBrokerError } from '../../errors.ts';
import { grantTypes, type NewClient } from '../../admin/clientAdministration.ts';
import { clientPortals, type ClientPortal, type ClientRecord } from '../../domain/records.ts';
import { attemptChange, noticeOf, redirectWithNotice, type FieldProblems } from '../consoleForms.ts';
import type { ConsoleContext, ConsolePage, ConsoleStep, ConsoleSteps } from '../consoleSteps.ts';

export const clientsPath = '/admin/clients';
const notices = ['updated', 'disabled', 'enabled', 'deleted'] as const;
const { has } = translator('en');

const text = (value: unknown): string => (typeof value === 'string' ? value.trim() : '');
/** A textarea of URIs, one a line. */
const lines = (value: unknown): string[] => text(value).split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
/** Checkboxes of one name: one value or several. */
const checked = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : typeof value === 'string' ? [value] : []);
const clientPath = (id: string): string => `${clientsPath}/${encodeURIComponent(id)}`;
const portalOf = (value: unknown): ClientPortal | undefined => clientPortals.find((portal) => portal === value);

/** A client's registration as the edit form shows it. */
function formOf(client: ClientRecord): Record<string, unknown> {
  const metadata = client.metadata;
  const list = (value: unknown): string => (Array.isArray(value) ? value.map(String).join('\n') : '');
  return {
    name: typeof metadata.client_name === 'string' ? metadata.client_name : '',
    portal: client.portal,
    redirectUris: list(metadata.redirect_uris),
    postLogoutRedirectUris: list(metadata.post_logout_redirect_uris),
    backchannelLogoutUri: typeof metadata.backchannel_logout_uri === 'string' ? metadata.backchannel_logout_uri : '',
    grantTypes: Array.isArray(metadata.grant_types) ? metadata.grant_types.map(String) : [],
  };
}

export const clientsPage: ConsolePage = {
  navigation: { path: clientsPath, labelKey: 'console.nav.clients', roles: [] },
  routes(router, steps) {
    const { signedIn, form } = steps;
    const adminOnly = steps.requireRole();
    const page = new ClientSteps(steps);
    router.get(clientsPath, signedIn, adminOnly, page.listClients);
    router.get(`${clientsPath}/new`, signedIn, adminOnly, page.showRegistration);
    router.post(clientsPath, signedIn, adminOnly, form, page.register);
    router.post(`${clientsPath}/initial-access-tokens`, signedIn, adminOnly, form, steps.requireRecentSignIn(clientsPath), page.issueInitialAccessToken);
    router.get(`${clientsPath}/:clientId`, signedIn, adminOnly, page.showClient);
    router.post(`${clientsPath}/:clientId`, signedIn, adminOnly, form, page.update);
    router.post(`${clientsPath}/:clientId/disable`, signedIn, adminOnly, form, page.setDisabled(true));
    router.post(`${clientsPath}/:clientId/enable`, signedIn, adminOnly, form, page.setDisabled(false));
    router.post(`${clientsPath}/:clientId/rotate-secret`, signedIn, adminOnly, form, (ctx, next) => steps.requireRecentSignIn(clientPath(ctx.params.clientId!))(ctx, next), page.rotateSecret);
    router.get(`${clientsPath}/:clientId/delete`, signedIn, adminOnly, page.confirmRemoval);
    router.post(`${clientsPath}/:clientId/delete`, signedIn, adminOnly, form, page.remove);
  },
};

class ClientSteps {
  readonly #steps: ConsoleSteps;

  constructor(steps: ConsoleSteps) {
    this.#steps = steps;
  }

  readonly listClients: ConsoleStep = async (ctx) => {
    const search = text(ctx.query.search).slice(0, 200);
    this.#steps.render(ctx, 'console/clients.eta', {
      titleKey: 'console.clients.title',
      search,
      clients: await ctx.state.services.clients.search(search),
      portals: clientPortals,
      notice: noticeOf(ctx, notices, 'console.clients.done.'),
      problems: {},
    });
  };

  readonly showRegistration: ConsoleStep = (ctx) => this.#showRegistration(ctx, { grantTypes: ['authorization_code', 'refresh_token'], portal: 'partnersource' }, {});

  #showRegistration(ctx: ConsoleContext, typed: Record<string, unknown>, problems: FieldProblems): void {
    this.#steps.render(ctx, 'console/client-form.eta', { titleKey: 'console.clients.new_title', action: clientsPath, typed, problems, portals: clientPortals, grantTypes, registering: true });
  }

  readonly register: ConsoleStep = async (ctx) => {
    const body = ctx.state.form;
    const typed = { id: text(body.id), name: text(body.name), portal: text(body.portal), redirectUris: text(body.redirectUris), postLogoutRedirectUris: text(body.postLogoutRedirectUris), backchannelLogoutUri: text(body.backchannelLogoutUri), grantTypes: checked(body.grantTypes), public: body.public === 'on', firstParty: body.firstParty === 'on' };
    const request: NewClient = {
      ...(typed.id ? { id: typed.id } : {}),
      ...(typed.name ? { name: typed.name } : {}),
      portal: (portalOf(typed.portal) ?? typed.portal) as ClientPortal,
      redirectUris: lines(body.redirectUris),
      postLogoutRedirectUris: lines(body.postLogoutRedirectUris),
      ...(typed.backchannelLogoutUri ? { backchannelLogoutUri: typed.backchannelLogoutUri } : {}),
      grantTypes: typed.grantTypes as NewClient['grantTypes'],
      public: typed.public,
      firstParty: typed.firstParty,
    };
    await attemptChange(
      ctx,
      has,
      async () => {
        const registered = await this.#idTaken(ctx, () => ctx.state.services.clients.register(request));
        if (!registered) return this.#showRegistration(ctx, typed, { id: 'console.invalid.id_taken' });
        this.#showSecret(ctx, registered.clientSecret, registered.client.id, 'console.clients.registered');
      },
      (problems) => this.#showRegistration(ctx, typed, problems),
    );
  };

  /** Runs a registration; undefined (status 400) when the id is taken, also by one registered meanwhile. */
  async #idTaken<Result>(ctx: ConsoleContext, work: () => Promise<Result>): Promise<Result | undefined> {
    try {
      return await work();
    } catch (error) {
      if (!isBrokerError(error) || error.code !== 'conflict') throw error;
      ctx.status = 400;
      return undefined;
    }
  }

  /** The one time a secret is shown (a public client has none: straight to its page). */
  #showSecret(ctx: ConsoleContext, secret: string | undefined, clientId: string, titleKey: string): void {
    if (!secret) return redirectWithNotice(ctx, clientPath(clientId), 'updated');
    this.#steps.render(ctx, 'console/secret.eta', { titleKey, secret, hintKey: 'console.clients.secret_once', back: clientPath(clientId), clientId });
  }

  readonly showClient: ConsoleStep = async (ctx) => {
    const client = await ctx.state.services.clients.show(ctx.params.clientId!);
    this.#showClient(ctx, client, formOf(client), {});
  };

  #showClient(ctx: ConsoleContext, client: ClientRecord, typed: Record<string, unknown>, problems: FieldProblems): void {
    this.#steps.render(ctx, 'console/client-form.eta', {
      titleKey: 'console.clients.edit_title',
      titleValues: { client: client.id },
      client,
      action: clientPath(client.id),
      typed,
      problems,
      portals: clientPortals,
      grantTypes,
      registering: false,
      notice: noticeOf(ctx, notices, 'console.clients.done.'),
    });
  }

  readonly update: ConsoleStep = async (ctx) => {
    const { clients } = ctx.state.services;
    const client = await clients.show(ctx.params.clientId!);
    const body = ctx.state.form;
    const typed = { name: text(body.name), portal: text(body.portal), redirectUris: text(body.redirectUris), postLogoutRedirectUris: text(body.postLogoutRedirectUris), backchannelLogoutUri: text(body.backchannelLogoutUri), grantTypes: checked(body.grantTypes) };
    await attemptChange(
      ctx,
      has,
      async () => {
        await clients.update(client.id, {
          ...(typed.name ? { name: typed.name } : {}),
          portal: (portalOf(typed.portal) ?? typed.portal) as ClientPortal,
          redirectUris: lines(body.redirectUris),
          postLogoutRedirectUris: lines(body.postLogoutRedirectUris),
          ...(typed.backchannelLogoutUri ? { backchannelLogoutUri: typed.backchannelLogoutUri } : {}),
          grantTypes: typed.grantTypes as NonNullable<NewClient['grantTypes']>,
        });
        redirectWithNotice(ctx, clientPath(client.id), 'updated');
      },
      (problems) => this.#showClient(ctx, client, typed, problems),
    );
  };

  setDisabled(disabled: boolean): ConsoleStep {
    return async (ctx) => {
      const client = await ctx.state.services.clients.setDisabled(ctx.params.clientId!, disabled);
      redirectWithNotice(ctx, clientPath(client.id), disabled ? 'disabled' : 'enabled');
    };
  }

  readonly rotateSecret: ConsoleStep = async (ctx) => {
    const rotated = await ctx.state.services.clients.rotateSecret(ctx.params.clientId!);
    this.#showSecret(ctx, rotated.clientSecret, rotated.client.id, 'console.clients.rotated');
  };

  readonly confirmRemoval: ConsoleStep = async (ctx) => {
    const client = await ctx.state.services.clients.show(ctx.params.clientId!);
    this.#steps.render(ctx, 'console/client-delete.eta', { titleKey: 'console.clients.delete_title', titleValues: { client: client.id }, client, action: `${clientPath(client.id)}/delete` });
  };

  readonly remove: ConsoleStep = async (ctx) => {
    await ctx.state.services.clients.remove(ctx.params.clientId!);
    redirectWithNotice(ctx, clientsPath, 'deleted');
  };

  readonly issueInitialAccessToken: ConsoleStep = async (ctx) => {
    const portal = portalOf(ctx.state.form.portal);
    const days = Number(text(ctx.state.form.days));
    if (!portal || !Number.isInteger(days) || days < 1 || days > 30) {
      ctx.status = 400;
      const search = '';
      return this.#steps.render(ctx, 'console/clients.eta', {
        titleKey: 'console.clients.title',
        search,
        clients: await ctx.state.services.clients.search(search),
        portals: clientPortals,
        problems: { ...(portal ? {} : { tokenPortal: 'console.invalid.portal' }), ...(Number.isInteger(days) && days >= 1 && days <= 30 ? {} : { days: 'console.invalid.days' }) },
        typed: { portal: text(ctx.state.form.portal), days: text(ctx.state.form.days) },
      });
    }
    const issued = await ctx.state.services.initialAccessTokens.issue(portal, days * 86_400);
    this.#steps.render(ctx, 'console/secret.eta', { titleKey: 'console.clients.token_issued', secret: issued.token, hintKey: 'console.clients.token_once', back: clientsPath, expiresAt: this.#steps.time(ctx, issued.expiresAt) });
  };
}
