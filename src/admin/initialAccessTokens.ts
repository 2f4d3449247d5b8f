// Initial access tokens for dynamic client registration (RFC 7591) as an
// administration service: oidc-provider makes the token, this service audits
// its issue, for the CLI and the admin API alike.
import type { ClientPortal } from '../store/records.ts';
import type { AuditEventRepository } from '../store/store.ts';

/** Makes an initial access token for `portal` clients (oidc-provider's InitialAccessToken). */
export type IssueInitialAccessToken = (portal: ClientPortal, expiresInSeconds: number) => Promise<{ token: string; expiresAt: number }>;

export class InitialAccessTokens {
  readonly #issue: IssueInitialAccessToken;
  readonly #audit: AuditEventRepository;
  readonly #actor: string;

  constructor(issue: IssueInitialAccessToken, audit: AuditEventRepository, actor: string) {
    this.#issue = issue;
    this.#audit = audit;
    this.#actor = actor;
  }

  /** Issues one token (shown once, never stored in clear by the caller). */
  async issue(portal: ClientPortal, expiresInSeconds: number): Promise<{ token: string; expiresAt: number }> {
    const issued = await this.#issue(portal, expiresInSeconds);
    await this.#audit.record({ type: 'registration.initial_access_token_issued', outcome: 'success', actor: this.#actor, details: { portal, expiresInSeconds } });
    return issued;
  }
}
