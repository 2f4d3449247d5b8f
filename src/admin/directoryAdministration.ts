// Keeping the MBS directory and its bindings: importing profiles, and binding
// an upstream identity to a profile by hand (admins, support and tests). The
// CLI and the admin API share this service.
import { setTimeout as pause } from 'node:timers/promises';
import { conflict, invalidInput, notFound, profileNotFound } from '../errors.ts';
import { normalizeEmail } from '../directory/email.ts';
import { parseProfileFile, profileSchema, type RejectedProfileRow } from '../directory/profileImport.ts';
import type { AuditEventRecord, BoundProfile, LinkRequestRecord, Page, PageRequest, ProfileBindingRecord, ProfileRecord } from '../domain/records.ts';
import type { AuditEventFilter, ProfileUpsertOutcome, Store } from '../store/store.ts';
import { auditCsv } from './auditExport.ts';

export interface ProfileImportReport {
  created: number;
  updated: number;
  unchanged: number;
  rejected: RejectedProfileRow[];
}

/** How far a tracked import has got: valid rows committed of all valid rows, and the counts so far. */
export interface ImportProgress {
  processed: number;
  total: number;
  report: ProfileImportReport;
}
export type ImportProgressListener = (progress: ImportProgress) => void;

/**
 * An import's chunk: upserts for at most this long in one transaction, which
 * is how long a broker beside it may wait for SQLite's write lock.
 */
const importChunkMilliseconds = 5;
/**
 * The pause between chunks: at least the broker's longest pause between two
 * tries for a busy lock (busyBackoffMilliseconds), so a waiting broker gets it.
 */
const importPauseMilliseconds = 6;

export interface ManualBinding {
  profileId: string;
  issuer: string;
  subject: string;
  actor?: string;
}

/** How the CLI and the admin API ask for profiles: an email as a person types it. */
export interface ProfileQuery extends PageRequest {
  email?: string | undefined;
  /** Profiles whose organization contains this, letter case ignored. */
  organization?: string | undefined;
}

/** How the CLI and the admin API ask for bindings: their flags and query parameters carry these names. */
export interface BindingQuery extends PageRequest {
  account?: string | undefined;
  profile?: string | undefined;
  email?: string | undefined;
}

/** How the CLI and the admin API ask for audit events (times in epoch milliseconds). */
export interface AuditEventQuery extends PageRequest {
  type?: string | undefined;
  actor?: string | undefined;
  account?: string | undefined;
  profile?: string | undefined;
  client?: string | undefined;
  since?: number | undefined;
  until?: number | undefined;
}

/** The store's filter of an audit query in the surfaces' vocabulary. */
const auditEventFilter = ({ type, actor, account, profile, client, since, until }: AuditEventQuery): AuditEventFilter => ({ type, actor, accountId: account, profileId: profile, clientId: client, since, until });

/** Emails are stored normalised: "Jane@Contoso.com " finds jane@contoso.com from any surface. */
const normalizedEmail = (email: string | undefined): string | undefined => (email ? normalizeEmail(email) : undefined);

export class DirectoryAdministration {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * Upserts every valid row (idempotent by profile id); bad rows are
   * reported, not imported. Committed in short chunks (at most
   * `importChunkMilliseconds` of upserts each), with a pause between: on
   * SQLite the write lock is never held for long and a broker running beside
   * the CLI gets it between chunks, so it keeps answering (or, through the
   * admin API, the broker's own requests get the connection). An import
   * that fails midway keeps the chunks before; running it again finishes it.
   */
  /**
   * What `importProfiles` would do with the file, writing nothing: the same
   * parse and the same comparison with the stored profiles, so applying it
   * right after reports the same counts.
   */
  async previewImport(fileName: string, text: string): Promise<ProfileImportReport> {
    const { profiles, rejected } = parseProfileFile(fileName, text);
    const report: ProfileImportReport = { created: 0, updated: 0, unchanged: 0, rejected };
    for (const profile of profiles) report[await this.#store.profiles.outcomeOf(profile)] += 1;
    return report;
  }

  /** How many profiles the file would import (its valid rows), without reading the store. */
  importRowCount(fileName: string, text: string): number {
    return parseProfileFile(fileName, text).profiles.length;
  }

  /**
   * Imports the file. With `progress` it is a tracked import (the console's
   * import job): an audit event when it starts (the rows to import), the
   * counts so far after every chunk, and a failure audited with the counts
   * reached before it goes on up.
   */
  async importProfiles(fileName: string, text: string, actor = 'cli', progress?: ImportProgressListener): Promise<ProfileImportReport> {
    const { profiles, rejected } = parseProfileFile(fileName, text);
    const report: ProfileImportReport = { created: 0, updated: 0, unchanged: 0, rejected };
    const counts = () => ({ created: report.created, updated: report.updated, unchanged: report.unchanged, rejected: rejected.length });
    let next = 0;
    if (progress) {
      await this.#store.auditEvents.record({ type: 'profiles.import_started', outcome: 'success', actor, details: { rows: profiles.length, rejected: rejected.length } });
      progress({ processed: 0, total: profiles.length, report });
    }
    try {
      while (next < profiles.length) {
        if (next > 0) await pause(importPauseMilliseconds);
        const began = performance.now();
        const chunk = { ...report };
        let upTo = next;
        await this.#store.transaction(async (repositories) => {
          do {
            chunk[await repositories.profiles.upsert(profiles[upTo]!)] += 1;
            upTo += 1;
          } while (upTo < profiles.length && performance.now() - began < importChunkMilliseconds);
        });
        // Counted once the chunk is committed: a rolled-back chunk counts nothing.
        Object.assign(report, chunk);
        next = upTo;
        progress?.({ processed: next, total: profiles.length, report });
      }
    } catch (error) {
      if (progress) await this.#store.auditEvents.record({ type: 'profiles.import', outcome: 'failure', actor, details: { ...counts(), processed: next, rows: profiles.length } });
      throw error;
    }
    await this.#store.auditEvents.record({ type: 'profiles.import', outcome: 'success', actor, details: counts() });
    return report;
  }

  listProfiles(query: ProfileQuery = {}): Promise<Page<ProfileRecord>> {
    return this.#store.profiles.list({ limit: query.limit, offset: query.offset, email: normalizedEmail(query.email), ...(query.organization ? { organization: query.organization } : {}) });
  }

  listBindings(query: BindingQuery = {}): Promise<Page<BoundProfile>> {
    return this.#store.profileBindings.list({ limit: query.limit, offset: query.offset, accountId: query.account, profileId: query.profile, email: normalizedEmail(query.email) });
  }

  /**
   * Binds the upstream identity (issuer + subject) to the profile, creating
   * the broker account and identity when they do not exist yet.
   */
  async bind(request: ManualBinding): Promise<{ accountId: string; profile: ProfileRecord; movedFrom: string | undefined }> {
    return this.#store.transaction(async (repositories) => {
      const profile = await repositories.profiles.find(request.profileId);
      if (!profile) throw profileNotFound(request.profileId);
      let identity = await repositories.identities.findByIssuerAndSubject(request.issuer, request.subject);
      if (!identity) {
        const account = await repositories.accounts.create({ email: profile.email, emailVerified: true, name: profile.displayName });
        identity = await repositories.identities.create({ accountId: account.id, issuer: request.issuer, subject: request.subject });
      }
      const { previous } = await repositories.profileBindings.bind({ profileId: profile.id, accountId: identity.accountId, identityId: identity.id, method: 'admin' });
      await repositories.auditEvents.record({
        type: previous && previous.accountId !== identity.accountId ? 'binding.moved' : 'binding.created',
        outcome: 'success',
        actor: request.actor ?? 'cli',
        accountId: identity.accountId,
        profileId: profile.id,
        details: { method: 'admin', ...(previous ? { previousAccountId: previous.accountId } : {}) },
      });
      return { accountId: identity.accountId, profile, movedFrom: previous && previous.accountId !== identity.accountId ? previous.accountId : undefined };
    });
  }

  /** Creates or replaces one profile (validated like an imported row). */
  async upsertProfile(input: unknown, actor = 'cli'): Promise<{ outcome: ProfileUpsertOutcome; profile: ProfileRecord }> {
    const parsed = profileSchema.safeParse(input);
    if (!parsed.success) throw invalidInput('profile', parsed.error.issues);
    return this.#store.transaction(async (repositories) => {
      const outcome = await repositories.profiles.upsert(parsed.data);
      await repositories.auditEvents.record({ type: `profile.${outcome === 'created' ? 'created' : 'updated'}`, outcome: 'success', actor, profileId: parsed.data.id });
      return { outcome, profile: (await repositories.profiles.find(parsed.data.id))! };
    });
  }

  async showProfile(profileId: string): Promise<{ profile: ProfileRecord; binding: ProfileBindingRecord | undefined }> {
    const profile = await this.#store.profiles.find(profileId);
    if (!profile) throw notFound('error.console.profile_not_found', { detail: `no profile ${profileId}` });
    return { profile, binding: await this.#store.profileBindings.findByProfile(profileId) };
  }

  /** Deletes a profile; its binding goes with it. */
  async removeProfile(profileId: string, actor = 'cli'): Promise<void> {
    await this.#store.transaction(async (repositories) => {
      const binding = await repositories.profileBindings.findByProfile(profileId);
      if (!(await repositories.profiles.remove(profileId))) throw profileNotFound(profileId);
      await repositories.auditEvents.record({ type: 'profile.removed', outcome: 'success', actor, profileId, accountId: binding?.accountId, details: { wasBound: binding !== undefined } });
    });
  }

  listPendingLinks(query: PageRequest = {}): Promise<Page<LinkRequestRecord>> {
    return this.#store.linkRequests.listPending(query);
  }

  /** Makes an unused association link unusable. */
  async revokeLink(linkId: string, actor = 'cli'): Promise<void> {
    await this.#store.transaction(async (repositories) => {
      const link = await repositories.linkRequests.find(linkId);
      if (!link || !(await repositories.linkRequests.revoke(linkId))) throw notFound('error.console.link_gone', { detail: `no unused link request ${linkId}` });
      await repositories.auditEvents.record({ type: 'association.link_revoked', outcome: 'success', actor, profileId: link.profileId, details: { linkId } });
    });
  }

  listAuditEvents(query: AuditEventQuery = {}): Promise<Page<AuditEventRecord>> {
    return this.#store.auditEvents.list({ ...auditEventFilter(query), limit: query.limit, offset: query.offset });
  }

  /** The events `query` filters (paging aside) as CSV lines, header first; see auditExport.ts. */
  exportAuditEvents(query: AuditEventQuery = {}): AsyncGenerator<string> {
    return auditCsv(this.#store.auditEvents, auditEventFilter(query));
  }

  async unbind(profileId: string, actor = 'cli'): Promise<void> {
    await this.#store.transaction(async (repositories) => {
      const binding = await repositories.profileBindings.findByProfile(profileId);
      if (!binding) throw notFound('error.profile_not_bound', { messageValues: { id: profileId } });
      if (!(await repositories.profileBindings.remove(profileId))) throw conflict('error.profile_unbound_meanwhile', { messageValues: { id: profileId } });
      await repositories.auditEvents.record({ type: 'binding.removed', outcome: 'success', actor, accountId: binding.accountId, profileId });
    });
  }
}
