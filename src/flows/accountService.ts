// The account page's domain as a service with no Koa in it: who an account
// signs in as and which profiles are bound to it; unlinking one (the binding
// removed, a notice queued to the profile's address and the audit event, in
// one transaction); and signing out everywhere. The routes in account.ts put
// the sign-in, CSRF, pages and redirects around it.
import { notFound } from '../errors.ts';
import { portalName, profileEmailData } from '../directory/portals.ts';
import type { Locale } from '../i18n.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { EmailRenderer } from '../mail/render.ts';
import type { BoundProfile } from '../domain/records.ts';
import type { Store } from '../store/store.ts';
import { latestIdentity } from './signInService.ts';

export interface AccountServiceDependencies {
  store: Store;
  outbox: Outbox;
  emails: EmailRenderer;
  supportEmail: string;
  /** Ends every session, grant and token of the account; returns how many were revoked. */
  revokeAccount(accountId: string): Promise<number>;
}

/** What the account page shows. */
export interface AccountOverview {
  /** The upstream account's email or name hint, as the person knows it (empty when there is none). */
  upstreamName: string;
  profiles: Array<BoundProfile & { portalName: string }>;
}

/** Who is acting, as the audit trail and the notice need it. */
export interface AccountRequester {
  ip: string;
  locale: Locale;
}

export class AccountService {
  readonly #d: AccountServiceDependencies;

  constructor(dependencies: AccountServiceDependencies) {
    this.#d = dependencies;
  }

  async overview(accountId: string): Promise<AccountOverview> {
    const { store } = this.#d;
    const latest = latestIdentity(await store.identities.listByAccount(accountId));
    const profiles = await store.profileBindings.listProfilesByAccount(accountId);
    return {
      upstreamName: latest?.emailHint ?? latest?.nameHint ?? '',
      profiles: profiles.map((profile) => ({ ...profile, portalName: portalName(profile.portal) })),
    };
  }

  /** One profile bound to this account; another person's profile is not found. */
  async boundProfile(accountId: string, profileId: string): Promise<BoundProfile> {
    const profile = (await this.#d.store.profileBindings.listProfilesByAccount(accountId)).find((candidate) => candidate.id === profileId);
    if (!profile) throw notFound('error.profile_not_yours', { detail: `profile ${profileId} not bound to ${accountId}` });
    return profile;
  }

  /** Unbinds the profile, queues the notice to its address and audits it, all or nothing; unlinking twice does nothing more. */
  async unlink(accountId: string, profileId: string, requester: AccountRequester): Promise<void> {
    const { store, outbox, emails, supportEmail } = this.#d;
    const profile = await this.boundProfile(accountId, profileId);
    const notice = await emails.render('profile-unlinked', requester.locale, profileEmailData(profile, supportEmail));
    await store.transaction(async (repositories) => {
      if (!(await repositories.profileBindings.remove(profile.id))) return;
      await outbox.queue(repositories.executor, { kind: 'profile_unlinked', recipient: profile.email, ...notice });
      await repositories.auditEvents.record({ type: 'binding.removed', outcome: 'success', actor: 'user', accountId, profileId: profile.id, ip: requester.ip, details: { via: 'account page' } });
    });
  }

  /** Ends every session and token of the account, audited; returns how many were revoked. */
  async signOutEverywhere(accountId: string, ip: string): Promise<number> {
    const revoked = await this.#d.revokeAccount(accountId);
    await this.#d.store.auditEvents.record({ type: 'logout', outcome: 'success', actor: 'user', accountId, ip, details: { everywhere: true, revoked } });
    return revoked;
  }
}
