// The administration services every admin surface (the CLI, the admin API,
// the console) works through, made for one acting surface: each service owns
// the transaction and the audit event of every change.
import type { Clock } from '../clock.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { Store } from '../store/store.ts';
import { ClientAdministration } from './clientAdministration.ts';
import { DashboardStatistics } from './dashboardStatistics.ts';
import { DirectoryAdministration } from './directoryAdministration.ts';
import { EmailAdministration, type ResendLink } from './emailAdministration.ts';
import { initialAccessTokens, type InitialAccessTokens, type IssueInitialAccessToken } from './initialAccessTokens.ts';
import { keyAdministration, type KeyAdministration, type KeyOperations } from './keyAdministration.ts';
import { PeopleAdministration, type SessionOperations } from './peopleAdministration.ts';

export interface AdminServices {
  clients: ClientAdministration;
  directory: DirectoryAdministration;
  initialAccessTokens: InitialAccessTokens;
  keys: KeyAdministration;
  outbox: Outbox;
  dashboard: DashboardStatistics;
  people: PeopleAdministration;
  emails: EmailAdministration;
}

export interface AdminServiceParts {
  store: Store;
  outbox: Outbox;
  clock: Clock;
  keys: KeyOperations;
  issueInitialAccessToken: IssueInitialAccessToken;
  /** The provider's sessions of an account: listed, and ended with the portals told. */
  sessions: SessionOperations;
  /** Only a running broker resends links (it renders the association email); the CLI has none. */
  resendLink?: ResendLink | undefined;
}

/** The services acting as `actor` ('cli', 'admin-api', an admin of the console): the actor every audit event they write names. */
export function adminServices(parts: AdminServiceParts, actor: string): AdminServices {
  return {
    clients: new ClientAdministration(parts.store.clients, parts.store.auditEvents, actor),
    directory: new DirectoryAdministration(parts.store),
    initialAccessTokens: initialAccessTokens(parts.issueInitialAccessToken, parts.store.auditEvents, actor),
    keys: keyAdministration(parts.keys, parts.store.auditEvents, actor),
    outbox: parts.outbox,
    dashboard: new DashboardStatistics(parts.store.statistics, parts.clock),
    people: new PeopleAdministration(parts.store, parts.sessions, actor),
    emails: new EmailAdministration(parts, actor),
  };
}
