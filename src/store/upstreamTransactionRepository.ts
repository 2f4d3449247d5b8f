// Upstream round trips in progress (state, PKCE verifier, nonce), used once:
// `consume` is one conditional UPDATE.
import type { Clock } from '../clock.ts';
import { createSealer, type Sealer } from '../sealing.ts';
import { secretHash } from '../secrets.ts';
import type { UpstreamTransactionPurpose, UpstreamTransactionRecord } from '../domain/records.ts';
import { optionalText, parseJson, type Executor, type Row } from './rows.ts';
import type { UpstreamTransactionRepository } from './store.ts';

/**
 * An upstream round trip is stored under the hash of its state, its PKCE
 * verifier and nonce sealed under a key derived from the state itself: only
 * the browser coming back with the state can use the row, and a copy of the
 * database holds nothing that completes someone's sign-in.
 */
const transactionSealer = (state: string): Sealer => createSealer(state, 'upstream-transaction');

const toTransaction = (row: Row, state: string, sealer = transactionSealer(state)): UpstreamTransactionRecord => ({
  state,
  purpose: String(row.purpose) as UpstreamTransactionPurpose,
  interactionUid: optionalText(row.interaction_uid),
  codeVerifier: sealer.open(String(row.code_verifier), 'code_verifier'),
  nonce: sealer.open(String(row.nonce), 'nonce'),
  context: parseJson(row.context, {}),
  createdAt: Number(row.created_at),
  expiresAt: Number(row.expires_at),
});

export function upstreamTransactionRepository(db: Executor, clock: Clock): UpstreamTransactionRepository {
  return {
    async create(transaction) {
      const sealer = transactionSealer(transaction.state);
      await db('upstream_transactions').insert({
        state: secretHash(transaction.state),
        purpose: transaction.purpose,
        interaction_uid: transaction.interactionUid ?? null,
        code_verifier: sealer.seal(transaction.codeVerifier, 'code_verifier'),
        nonce: sealer.seal(transaction.nonce, 'nonce'),
        context: JSON.stringify(transaction.context ?? {}),
        created_at: clock.now(),
        expires_at: transaction.expiresAt,
      });
    },
    async find(state) {
      const row = (await db('upstream_transactions')
        .where({ state: secretHash(state) })
        .whereNull('consumed_at')
        .where('expires_at', '>', clock.now())
        .first()) as Row | undefined;
      return row ? toTransaction(row, state) : undefined;
    },
    async consume(state) {
      const now = clock.now();
      // One conditional UPDATE: of concurrent consumers exactly one changes the row.
      const updated = await db('upstream_transactions')
        .where({ state: secretHash(state) })
        .whereNull('consumed_at')
        .where('expires_at', '>', now)
        .update({ consumed_at: now });
      if (updated === 0) return undefined;
      const row = (await db('upstream_transactions').where({ state: secretHash(state) }).first()) as Row | undefined;
      return row ? toTransaction(row, state) : undefined;
    },
  };
}
