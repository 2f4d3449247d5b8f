// The provider's token signing keys (JWKs; the private part as stored,
// sealed), newest first, active or retired.
import type { Clock } from '../clock.ts';
import type { SigningKeyRecord } from '../domain/records.ts';
import { optionalNumber, parseJson, type Executor, type Row } from './rows.ts';
import type { SigningKeyRepository } from './store.ts';

const toSigningKey = (row: Row): SigningKeyRecord => ({
  kid: String(row.kid),
  alg: String(row.alg),
  status: String(row.status) as SigningKeyRecord['status'],
  publicJwk: parseJson(row.public_jwk, {}),
  privateJwk: String(row.private_jwk),
  createdAt: Number(row.created_at),
  retiredAt: optionalNumber(row.retired_at),
});

export function signingKeyRepository(db: Executor, clock: Clock): SigningKeyRepository {
  return {
    async list() {
      return ((await db('signing_keys').orderBy('created_at', 'desc').orderBy('kid')) as Row[]).map(toSigningKey);
    },
    async insert(key) {
      await db('signing_keys').insert({
        kid: key.kid,
        alg: key.alg,
        status: key.status,
        public_jwk: JSON.stringify(key.publicJwk),
        private_jwk: key.privateJwk,
        created_at: clock.now(),
      });
    },
    async setStatus(kid, status) {
      await db('signing_keys')
        .where({ kid })
        .update({ status, retired_at: status === 'retired' ? clock.now() : null });
    },
    async replacePrivateJwk(kid, privateJwk) {
      await db('signing_keys').where({ kid }).update({ private_jwk: privateJwk });
    },
    async remove(kid) {
      return (await db('signing_keys').where({ kid }).delete()) > 0;
    },
  };
}
