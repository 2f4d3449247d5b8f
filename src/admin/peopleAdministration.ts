// The support desk's view of a person: found by MBS email, profile id or
// upstream subject; their broker account, upstream identities, bound
// profiles, last sign-ins and live sessions; and the desk's changes: unbind,
// bind on behalf (a reason is required and audited), revoke sessions. Each
// change is one transaction with its audit event naming the acting admin.
import { z } from 'zod';
import { BrokerError, invalidInput, invalidRequest, notFound } from '../errors.ts';
import { normalizeEmail } from '../directory/email.ts';
import type { AccountRecord, AuditEventRecord, BoundProfile, ProfileRecord, UpstreamIdentityRecord } from '../domain/records.ts';
import type { Store } from '../store/store.ts';

/** An account's live session (see src/store/oidcAdapter.ts). */
export interface PersonSession {
  signedInAt: number | undefined;
  expiresAt: number | undefined;
  clientIds: string[];
}

/** What the provider's sessions are to the desk: listed, and ended everywhere (portals told by back-channel logout). */
export interface SessionOperations {
  list(accountId: string): Promise<PersonSession[]>;
  /** Returns the provider rows removed (sessions, grants, tokens). */
  revoke(accountId: string): Promise<number>;
}

/** Exactly one way to look a person up. */
export interface PersonQuery {
  email?: string | undefined;
  profile?: string | undefined;
  subject?: string | undefined;
}

export interface Person {
  account: AccountRecord;
  identities: UpstreamIdentityRecord[];
  profiles: BoundProfile[];
}

export interface PeopleFound {
  people: Person[];
  /** Profiles the query names that no account is bound to (an address that never finished association). */
  unboundProfiles: ProfileRecord[];
}

export interface PersonDetails extends Person {
  /** The latest sign-in events (success and failure), newest first. */
  signIns: AuditEventRecord[];
  sessions: PersonSession[];
}

const signInsShown = 10;

/** Why an admin binds on someone's behalf: required, kept in the audit log. */
const bindOnBehalfSchema = z
  .object({
    profileId: z.string().trim().min(1, 'a profile id is required').max(255),
    reason: z.string().trim().min(3, 'say why (at least 3 characters)').max(500, 'at most 500 characters'),
  })
  .strict();

export type BindOnBehalf = z.input<typeof bindOnBehalfSchema>;

export class PeopleAdministration {
  readonly #store: Store;
  readonly #sessions: SessionOperations;
  readonly #actor: string;

  constructor(store: Store, sessions: SessionOperations, actor: string) {
    this.#store = store;
    this.#sessions = sessions;
    this.#actor = actor;
  }

  async find(query: PersonQuery): Promise<PeopleFound> {
    const given = (['email', 'profile', 'subject'] as const).filter((key) => query[key]?.trim());
    if (given.length !== 1) throw invalidRequest('error.console.one_query', { fields: { query: 'give one of email, profile, subject' } });
    const store = this.#store;
    const accountIds = new Set<string>();
    let profiles: ProfileRecord[] = [];
    if (query.email?.trim()) {
      const email = normalizeEmail(query.email);
      profiles = await store.profiles.findByEmail(email);
      for (const account of await store.accounts.listByEmail(email)) accountIds.add(account.id);
    } else if (query.profile?.trim()) {
      const profile = await store.profiles.find(query.profile.trim());
      profiles = profile ? [profile] : [];
    } else {
      for (const identity of await store.identities.listBySubject(query.subject!.trim())) accountIds.add(identity.accountId);
    }
    const unboundProfiles: ProfileRecord[] = [];
    for (const profile of profiles) {
      const binding = await store.profileBindings.findByProfile(profile.id);
      if (binding) accountIds.add(binding.accountId);
      else unboundProfiles.push(profile);
    }
    const people: Person[] = [];
    for (const accountId of accountIds) {
      const person = await this.#person(accountId);
      if (person) people.push(person);
    }
    return { people, unboundProfiles };
  }

  async details(accountId: string): Promise<PersonDetails> {
    const person = await this.#person(accountId);
    if (!person) throw notFound('error.console.account_not_found', { detail: `no account ${accountId}` });
    const [signIns, sessions] = await Promise.all([
      this.#store.auditEvents.list({ type: 'sign_in', accountId, limit: signInsShown }),
      this.#sessions.list(accountId),
    ]);
    return { ...person, signIns: signIns.items, sessions };
  }

  async #person(accountId: string): Promise<Person | undefined> {
    const account = await this.#store.accounts.find(accountId);
    if (!account) return undefined;
    const [identities, profiles] = await Promise.all([this.#store.identities.listByAccount(accountId), this.#store.profileBindings.listProfilesByAccount(accountId)]);
    return { account, identities, profiles };
  }

  /**
   * Binds a profile to the person's account on their behalf (they cannot
   * receive the association email, say). The reason is kept in the audit
   * event; a profile bound to someone else moves.
   */
  async bindOnBehalf(accountId: string, request: BindOnBehalf): Promise<{ profile: ProfileRecord; movedFrom: string | undefined }> {
    const parsed = bindOnBehalfSchema.safeParse(request);
    if (!parsed.success) throw invalidInput('binding', parsed.error.issues);
    const { profileId, reason } = parsed.data;
    return this.#store.transaction(async (repositories) => {
      if (!(await repositories.accounts.find(accountId))) throw notFound('error.console.account_not_found', { detail: `no account ${accountId}` });
      const profile = await repositories.profiles.find(profileId);
      // Bad input, not a missing page: the form shows it beside the field.
      if (!profile) throw invalidRequest('error.console.profile_not_found', { fields: { profileId: 'no such profile' }, detail: `no profile ${profileId}` });
      const { previous } = await repositories.profileBindings.bind({ profileId, accountId, identityId: undefined, method: 'admin' });
      const movedFrom = previous && previous.accountId !== accountId ? previous.accountId : undefined;
      await repositories.auditEvents.record({
        type: movedFrom ? 'binding.moved' : 'binding.created',
        outcome: 'success',
        actor: this.#actor,
        accountId,
        profileId,
        details: { method: 'admin', onBehalf: true, reason, ...(movedFrom ? { previousAccountId: movedFrom } : {}) },
      });
      return { profile, movedFrom };
    });
  }

  /** Unbinds one of the person's profiles. */
  async unbind(accountId: string, profileId: string): Promise<void> {
    await this.#store.transaction(async (repositories) => {
      const binding = await repositories.profileBindings.findByProfile(profileId);
      if (!binding || binding.accountId !== accountId) throw notFound('error.console.profile_not_bound', { detail: `profile ${profileId} not bound to ${accountId}` });
      if (!(await repositories.profileBindings.remove(profileId))) throw new BrokerError('conflict', 'error.console.unbound_meanwhile', { detail: `profile ${profileId} unbound meanwhile` });
      await repositories.auditEvents.record({ type: 'binding.removed', outcome: 'success', actor: this.#actor, accountId, profileId });
    });
  }

  /** Ends the person's sessions, grants and tokens everywhere; returns the provider rows removed. */
  async revokeSessions(accountId: string): Promise<number> {
    if (!(await this.#store.accounts.find(accountId))) throw notFound('error.console.account_not_found', { detail: `no account ${accountId}` });
    const removed = await this.#sessions.revoke(accountId);
    await this.#store.auditEvents.record({ type: 'sessions.revoked', outcome: 'success', actor: this.#actor, accountId, details: { removed } });
    return removed;
  }
}
