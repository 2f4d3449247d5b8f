// CSRF tokens for the broker's forms: an HMAC of what the form acts on (an
// interaction uid, a link request) under a server secret, so a token cannot be
// forged cross-site nor replayed against another flow. The secrets are the
// cookie keys in force: the first signs, all verify, so a form served before a
// key rotation still submits after it. A form whose token does not verify
// was served too long ago (keys rotated away) or elsewhere: one refusal says
// so, and where to get a fresh form.
import { createHmac } from 'node:crypto';
import { formExpired, type FreshFormAt } from '../errors.ts';
import { constantTimeEqual } from '../secrets.ts';

export type { FreshFormAt };

export interface CsrfTokens {
  issue(purpose: string, subject: string): string;
  /** Throws the 403 "form expired" refusal, pointing to `freshFormAt`, unless `presented` verifies. */
  require(purpose: string, subject: string, presented: unknown, freshFormAt: FreshFormAt): void;
}

/** `secrets` may change in place (key rotation); each call reads it afresh. */
export function createCsrfTokens(secrets: readonly string[]): CsrfTokens {
  const tokenUnder = (secret: string, purpose: string, subject: string): string =>
    createHmac('sha256', secret).update(`${purpose}\u0000${subject}`).digest('base64url');
  const verify = (purpose: string, subject: string, presented: unknown): boolean =>
    typeof presented === 'string' && secrets.some((secret) => constantTimeEqual(tokenUnder(secret, purpose, subject), presented));
  return {
    issue: (purpose, subject) => tokenUnder(secrets[0]!, purpose, subject),
    require(purpose, subject, presented, freshFormAt) {
      if (verify(purpose, subject, presented)) return;
      throw formExpired(freshFormAt, `${purpose} form: CSRF token missing or not ours`);
    },
  };
}
