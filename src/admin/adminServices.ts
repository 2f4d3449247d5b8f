// The administration services every admin surface (the CLI, the admin API,
// the coming console) works through, made for one acting surface: each
// service owns the transaction and the audit event of every change.
import type { Outbox } from '../mail/outbox.ts';
import type { Store } from '../store/store.ts';
import { ClientAdministration } from './clientAdministration.ts';
import { DirectoryAdministration } from './directoryAdministration.ts';
import { initialAccessTokens, type InitialAccessTokens, type IssueInitialAccessToken } from './initialAccessTokens.ts';
import { keyAdministration, type KeyAdministration, type KeyOperations } from './keyAdministration.ts';

export interface AdminServices {
  clients: ClientAdministration;
  directory: DirectoryAdministration;
  initialAccessTokens: InitialAccessTokens;
  keys: KeyAdministration;
  outbox: Outbox;
}

export interface AdminServiceParts {
  store: Store;
  outbox: Outbox;
  keys: KeyOperations;
  issueInitialAccessToken: IssueInitialAccessToken;
}

/** The services acting as `actor` ('cli', 'admin-api'): the actor every audit event they write names. */
export function adminServices(parts: AdminServiceParts, actor: string): AdminServices {
  return {
    clients: new ClientAdministration(parts.store.clients, parts.store.auditEvents, actor),
    directory: new DirectoryAdministration(parts.store),
    initialAccessTokens: initialAccessTokens(parts.issueInitialAccessToken, parts.store.auditEvents, actor),
    keys: keyAdministration(parts.keys, parts.store.auditEvents, actor),
    outbox: parts.outbox,
  };
}
