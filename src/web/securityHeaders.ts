// Headers every answer carries, error pages included (this runs outside the
// error mapping): no MIME sniffing, no framing, no Referer leaving with a
// link token or code in the URL, and no caching unless a route says its
// answer is public — pages and JSON here carry personal data or secrets
// (link pages, consent, the account page, admin answers) by default.
import type { Context, Next } from 'koa';

export interface SecurityHeaderOptions {
  /** Paths whose answers are public and may be cached as their route says (discovery, JWKS, the stylesheet). */
  isPublic(path: string): boolean;
  /** Paths that may be framed (the dev upstream only). */
  mayBeFramed(path: string): boolean;
}

const noFraming = "frame-ancestors 'none'";

export function securityHeaders(options: SecurityHeaderOptions) {
  return async function setSecurityHeaders(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } finally {
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.set('Referrer-Policy', 'no-referrer');
      if (!options.mayBeFramed(ctx.path)) {
        ctx.set('X-Frame-Options', 'DENY');
        // Keep a policy a route set (oidc-provider's form posts), adding the framing rule.
        const policy = ctx.response.get('Content-Security-Policy');
        if (!policy) ctx.set('Content-Security-Policy', noFraming);
        else if (!policy.includes('frame-ancestors')) ctx.set('Content-Security-Policy', `${policy}; ${noFraming}`);
      }
      if (!ctx.response.get('Cache-Control') && !options.isPublic(ctx.path)) ctx.set('Cache-Control', 'no-store');
    }
  };
}
