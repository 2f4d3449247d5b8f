// The administration services every admin surface (the CLI, the admin API,
// the console) works through, made for one actor: each service owns the
// transaction and the audit event of every change, and every audit event
// carries the acting admin (see acting.ts).
import type { Clock } from '../clock.ts';
import type { Outbox } from '../mail/outbox.ts';
import type { EmailRenderer } from '../mail/render.ts';
import type { Store } from '../store/store.ts';
import { storeActingAs, type Acting } from './acting.ts';
import { AdminAccess } from './adminAccess.ts';
import { ApiAdministration } from './apiAdministration.ts';
import { ClientAdministration } from './clientAdministration.ts';
import { DirectoryAdministration } from './directoryAdministration.ts';
import { DashboardStatistics } from './dashboardStatistics.ts';
import { EmailAdministration, type ResendLink } from './emailAdministration.ts';
import { initialAccessTokens, type InitialAccessTokens, type IssueInitialAccessToken } from './initialAccessTokens.ts';
import { keyAdministration, type KeyAdministration, type KeyOperations } from './keyAdministration.ts';
import { PeopleAdministration, type SessionOperations } from './peopleAdministration.ts';
import { ProfileImportJobs } from './profileImportJobs.ts';

export interface AdminServices {
  clients: ClientAdministration;
  /** The portals' APIs as resource servers (RFC 8707). */
  apis: ApiAdministration;
  directory: DirectoryAdministration;
  initialAccessTokens: InitialAccessTokens;
  keys: KeyAdministration;
  outbox: Outbox;
  /** Console roles, invitations and admin API tokens. */
  access: AdminAccess;
  dashboard: DashboardStatistics;
  /** The support desk: people, their bindings and sessions. */
  people: PeopleAdministration;
  /** The support desk: the emails and links of an address. */
  emails: EmailAdministration;
  /** This process's profile import jobs (the console's large imports), shared by every actor. */
  importJobs: ProfileImportJobs;
}

export interface AdminServiceParts {
  store: Store;
  clock: Clock;
  outbox: Outbox;
  emails: EmailRenderer;
  keys: KeyOperations;
  issueInitialAccessToken: IssueInitialAccessToken;
  issuer: string;
  supportEmail: string;
  /** Milliseconds an admin invitation link works. */
  invitationTtl: number;
  /** The provider's sessions of an account: listed, and ended with the portals told. */
  sessions: SessionOperations;
  /** Only a running broker resends links (it renders the association email with its flows' settings); the CLI has none. */
  resendLink?: ResendLink | undefined;
  /** The running broker's import jobs (one registry for every request); the CLI runs none. */
  importJobs?: ProfileImportJobs | undefined;
}

/**
 * The services acting as `actor`: a surface ('cli', 'admin-api') or an
 * acting admin (the console's signed-in account, the API's token), named
 * by every audit event they write.
 */
export function adminServices(parts: AdminServiceParts, actor: string | Acting): AdminServices {
  const acting: Acting = typeof actor === 'string' ? { surface: actor } : actor;
  const store = storeActingAs(parts.store, acting);
  return {
    clients: new ClientAdministration(store.clients, store.auditEvents, acting.surface),
    apis: new ApiAdministration({ apis: store.resourceServers, clients: store.clients, audit: store.auditEvents }, acting.surface),
    directory: new DirectoryAdministration(store),
    initialAccessTokens: initialAccessTokens(parts.issueInitialAccessToken, store.auditEvents, acting.surface),
    keys: keyAdministration(parts.keys, store.auditEvents, acting.surface),
    outbox: parts.outbox,
    access: new AdminAccess({ ...parts, store }, acting),
    dashboard: new DashboardStatistics(store.statistics, parts.clock),
    people: new PeopleAdministration(store, parts.sessions, acting.surface),
    emails: new EmailAdministration({ store, outbox: parts.outbox, resendLink: parts.resendLink }, acting),
    importJobs: parts.importJobs ?? new ProfileImportJobs(parts.clock),
  };
}
