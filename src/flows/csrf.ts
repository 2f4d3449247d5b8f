// CSRF tokens for the broker's forms: an HMAC of what the form acts on (an
// interaction uid, a link request) under a server secret, so a token cannot be
// forged cross-site nor replayed against another flow. The secrets are the
// cookie keys in force: the first signs, all verify, so a form served before a
// key rotation still submits after it.
import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../secrets.ts';

export interface CsrfTokens {
  issue(purpose: string, subject: string): string;
  verify(purpose: string, subject: string, presented: unknown): boolean;
}

/** `secrets` may change in place (key rotation); each call reads it afresh. */
export function createCsrfTokens(secrets: readonly string[]): CsrfTokens {
  const tokenUnder = (secret: string, purpose: string, subject: string): string =>
    createHmac('sha256', secret).update(`${purpose}\u0000${subject}`).digest('base64url');
  return {
    issue: (purpose, subject) => tokenUnder(secrets[0]!, purpose, subject),
    verify: (purpose, subject, presented) => typeof presented === 'string' && secrets.some((secret) => constantTimeEqual(tokenUnder(secret, purpose, subject), presented)),
  };
}
