// Who is acting on the admin services: the surface (the CLI, the admin API,
// the console) and, where known, the acting admin's broker account or the
// API token used. Every audit event written through a store seen "as" an
// actor carries them in its details, so no service can forget them.
import type { AuditEventRepository, Store } from '../store/store.ts';

export interface Acting {
  /** 'cli', 'admin-api', 'console', 'demo': the `actor` of the audit events. */
  surface: string;
  /** The signed-in admin's broker account (the console). */
  accountId?: string | undefined;
  /** The id of the admin API token used (never the token). */
  tokenId?: string | undefined;
}

/** The details every audit event of `acting` carries. */
export function actingDetails(acting: Acting): Record<string, string> {
  return { ...(acting.accountId ? { actingAdmin: acting.accountId } : {}), ...(acting.tokenId ? { adminToken: acting.tokenId } : {}) };
}

function auditActingAs(audit: AuditEventRepository, acting: Acting): AuditEventRepository {
  const extra = actingDetails(acting);
  if (Object.keys(extra).length === 0) return audit;
  return { record: (event) => audit.record({ ...event, details: { ...event.details, ...extra } }), list: (query) => audit.list(query) };
}

/** The store whose audit events, in and out of transactions, carry the acting admin. */
export function storeActingAs(store: Store, acting: Acting): Store {
  if (Object.keys(actingDetails(acting)).length === 0) return store;
  return {
    ...store,
    auditEvents: auditActingAs(store.auditEvents, acting),
    transaction: (work) => store.transaction((repositories) => work({ ...repositories, auditEvents: auditActingAs(repositories.auditEvents, acting) })),
  };
}
