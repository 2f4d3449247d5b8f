// Initial access tokens for dynamic client registration (RFC 7591) as an
// administration service: oidc-provider makes the token, this service audits
// its issue, for the CLI and the admin API alike.
import type { ClientPortal } from '../domain/records.ts';
import type { AuditEventRepository } from '../store/store.ts';

/** Makes an initial access token for `portal` clients (oidc-provider's InitialAccessToken). */
export type IssueInitialAccessToken = (portal: ClientPortal, expiresInSeconds: number) => Promise<{ token: string; expiresAt: number }>;

export interface InitialAccessTokens {
  /** Issues one token (shown once) and audits it as `actor`'s. */
  issue: IssueInitialAccessToken;
}

export function initialAccessTokens(issue: IssueInitialAccessToken, audit: AuditEventRepository, actor: string): InitialAccessTokens {
  return {
    async issue(portal, expiresInSeconds) {
      const issued = await issue(portal, expiresInSeconds);
      await audit.record({ type: 'registration.initial_access_token_issued', outcome: 'success', actor, details: { portal, expiresInSeconds } });
      return issued;
    },
  };
}
