// CSRF tokens for the broker's forms: an HMAC of what the form acts on (an
// interaction uid, a link request) under a server secret, so a token cannot be
// forged cross-site nor replayed against another flow.
import { createHmac } from 'node:crypto';
import { constantTimeEqual } from '../secrets.ts';

export interface CsrfTokens {
  issue(purpose: string, subject: string): string;
  verify(purpose: string, subject: string, presented: unknown): boolean;
}

export function createCsrfTokens(secret: string): CsrfTokens {
  const issue = (purpose: string, subject: string): string =>
    createHmac('sha256', secret).update(`${purpose}\u0000${subject}`).digest('base64url');
  return {
    issue,
    verify: (purpose, subject, presented) => typeof presented === 'string' && constantTimeEqual(issue(purpose, subject), presented),
  };
}
