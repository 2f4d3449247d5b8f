// RFC 7592 registration reads and updates: the broker stores client secrets
// hashed, so the stored hash must never be echoed as if it were the secret.
import type { Context, Next } from 'koa';
import { isSecretHash } from '../secrets.ts';

/**
 * Client secrets are stored hashed: RFC 7592 reads and updates of a
 * registration must not echo the stored hash as if it were the secret (the
 * secret itself was returned once, at registration).
 */
export async function hideStoredClientSecrets(ctx: Context, next: Next): Promise<void> {
  await next();
  if (!ctx.path.startsWith('/reg/') || typeof ctx.body !== 'object' || ctx.body === null) return;
  const body = ctx.body as Record<string, unknown>;
  if (typeof body.client_secret === 'string' && isSecretHash(body.client_secret)) {
    delete body.client_secret;
    delete body.client_secret_expires_at;
  }
}
