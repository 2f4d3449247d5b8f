// What the broker does with oidc-provider's events: log lines for errors and
// notable successes, and an audit event for every sign-out.
import type { EventEmitter } from 'node:events';
import type Provider from 'oidc-provider';
import type { Logger } from '../logging.ts';
import type { AuditEventRepository } from '../store/store.ts';

type EventContext = { oidc?: { client?: { clientId?: string } } };

const errorEvents = [
  'authorization.error',
  'grant.error',
  'end_session.error',
  'userinfo.error',
  'introspection.error',
  'revocation.error',
  'registration_create.error',
  'registration_read.error',
  'registration_update.error',
  'registration_delete.error',
  'backchannel.error',
  'discovery.error',
  'jwks.error',
  'pushed_authorization_request.error',
] as const;

/** oidc-provider's events as log lines: errors at warn (server errors at error), the rest at debug. */
export function logProviderEvents(provider: Provider, logger: Logger): void {
  provider.on('server_error', (_ctx, error) => logger.error({ err: error }, 'oidc-provider server error'));
  const events = provider as unknown as EventEmitter;
  for (const event of errorEvents) {
    events.on(event, (ctx: EventContext, error: { error?: string; error_description?: string; error_detail?: string; message?: string }) => {
      logger.warn({ event, clientId: ctx?.oidc?.client?.clientId, error: error?.error, description: error?.error_description ?? error?.message, detail: error?.error_detail }, `oidc-provider ${event}`);
    });
  }
  provider.on('grant.success', (ctx: EventContext) => logger.debug({ event: 'grant.success', clientId: ctx?.oidc?.client?.clientId }, 'token issued'));
  provider.on('end_session.success', (ctx: EventContext) => logger.info({ event: 'end_session.success', clientId: ctx?.oidc?.client?.clientId }, 'signed out'));
  provider.on('grant.revoked', (_ctx: unknown, grantId: string) => logger.info({ event: 'grant.revoked', grantId }, 'grant revoked'));
}

/** Sign-outs are audit events like sign-ins. */
export function auditLogouts(provider: Provider, audit: AuditEventRepository, logger: Logger): void {
  provider.on('end_session.success', (ctx) => {
    const accountId = ctx.oidc.session?.accountId;
    audit
      .record({ type: 'logout', outcome: 'success', actor: 'user', ...(accountId ? { accountId } : {}), ...(ctx.oidc.client ? { clientId: ctx.oidc.client.clientId } : {}), ip: ctx.ip })
      .catch((error: unknown) => logger.error({ err: error }, 'recording a logout failed'));
  });
}
