// The support desk's "why didn't my email arrive": for one address, the
// profiles registered to it, the association emails queued and sent (with
// the SMTP server's answer, never the message), and the pending links;
// revoke a link, or resend it (a new link: tokens are stored hashed) within
// the rate limits the person's own requests have.
import type { Locale } from '../i18n.ts';
import { normalizeEmail } from '../directory/email.ts';
import type { LinkRequestRecord, ProfileRecord } from '../domain/records.ts';
import type { Outbox, OutboxSummary } from '../mail/outbox.ts';
import type { Store } from '../store/store.ts';
import { BrokerError, invalidRequest } from '../errors.ts';
import { actingDetails, type Acting } from './acting.ts';

/**
 * Makes a new link for a pending one and queues its email (the association
 * service's, passed in by the assembly); its audit event names `actor` and
 * carries `auditDetails` (the acting admin).
 */
export type ResendLink = (linkId: string, resend: { actor: string; auditDetails: Record<string, string>; locale: Locale }) => Promise<LinkRequestRecord>;

export interface AddressReport {
  email: string;
  profiles: ProfileRecord[];
  /** Newest first, at most `emailsShown`. */
  emails: OutboxSummary[];
  emailTotal: number;
  pendingLinks: LinkRequestRecord[];
}

const emailsShown = 50;

export class EmailAdministration {
  readonly #store: Store;
  readonly #outbox: Outbox;
  readonly #resendLink: ResendLink | undefined;
  readonly #acting: Acting;

  constructor(parts: { store: Store; outbox: Outbox; resendLink?: ResendLink | undefined }, acting: Acting) {
    this.#store = parts.store;
    this.#outbox = parts.outbox;
    this.#resendLink = parts.resendLink;
    this.#acting = acting;
  }

  async forAddress(address: string): Promise<AddressReport> {
    if (!address.trim()) throw invalidRequest('error.console.address_required', { fields: { address: 'an email address is required' } });
    const email = normalizeEmail(address);
    const profiles = await this.#store.profiles.findByEmail(email);
    const [emails, links] = await Promise.all([
      this.#outbox.list({ recipient: email, limit: emailsShown }),
      profiles.length ? this.#store.linkRequests.listPending({ profileIds: profiles.map((profile) => profile.id), limit: 500 }) : Promise.resolve({ items: [], total: 0 }),
    ]);
    return { email, profiles, emails: emails.items, emailTotal: emails.total, pendingLinks: links.items };
  }

  /** A new link for the pending link `linkId`, its email queued; the old link stops working. */
  async resendLink(linkId: string, locale: Locale = 'en'): Promise<LinkRequestRecord> {
    if (!this.#resendLink) throw new BrokerError('temporarily_unavailable', 'error.resend_needs_broker');
    return this.#resendLink(linkId, { actor: this.#acting.surface, auditDetails: actingDetails(this.#acting), locale });
  }
}
