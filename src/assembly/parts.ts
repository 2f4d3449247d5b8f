// Parts both the broker and the command line are assembled from, so that
// each is made one way: the migrated store with its key manager, and the
// broker's oidc-provider built from the configuration.
import type { JWK } from 'jose';
import type Provider from 'oidc-provider';
import type { Clock } from '../clock.ts';
import { upstreamEntries, type Config } from '../config/config.ts';
import { resolveKeyEncryptionKey } from '../config/keyEncryptionKey.ts';
import type { PageRenderer } from '../web/pages.ts';
import type { Logger } from '../logging.ts';
import { KeyManager } from '../provider/keys.ts';
import { clientMetadata, createProvider } from '../provider/provider.ts';
import { dpopNonceSecret } from '../provider/dpop.ts';
import { consoleClientId } from '../console/consoleRoutes.ts';
import type { Database } from '../store/database.ts';
import { createStore, type StoreObserver } from '../store/knexStore.ts';
import { migrateToLatest } from '../store/migrations.ts';
import { derivedSecret } from '../sealing.ts';
import { createOidcAdapter } from '../store/oidcAdapter.ts';
import type { Store } from '../store/store.ts';

export interface Storage {
  /** KEY_ENCRYPTION_KEY or the development key: secrets at rest are sealed under it. */
  keyEncryptionKey: string;
  store: Store;
  keys: KeyManager;
}

/**
 * Migrates the database and opens the store and its keys. With a logger,
 * a development key generated because KEY_ENCRYPTION_KEY is unset is a warning.
 */
export async function openStorage(config: Config, database: Database, options: { clock: Clock; logger?: Logger; observer?: StoreObserver }): Promise<Storage> {
  const keyEncryption = resolveKeyEncryptionKey(config);
  if (options.logger && typeof keyEncryption.source === 'object' && keyEncryption.source.created) {
    options.logger.warn({ file: keyEncryption.source.file }, 'KEY_ENCRYPTION_KEY is not set: generated a development key in this file (production refuses to start without KEY_ENCRYPTION_KEY)');
  }
  await migrateToLatest(database, { keyEncryptionKey: keyEncryption.key });
  const store = createStore(database, options.clock, options.observer);
  // A key rotated on any instance is read by all within one refresh interval;
  // it signs only after two, so that no instance meets a token or cookie it
  // cannot verify yet.
  const keys = new KeyManager({
    signingKeys: store.signingKeys,
    cookieKeys: store.cookieKeys,
    keyEncryptionKey: keyEncryption.key,
    clock: options.clock,
    activationDelay: 2 * config.keyRefreshInterval * 1000,
  });
  return { keyEncryptionKey: keyEncryption.key, store, keys };
}

/** The broker's issuer as configured, without a trailing slash. */
export const issuerOf = (config: Config): string => config.issuer.replace(/\/$/, '');

/** Builds the broker's oidc-provider for a set of signing and cookie keys (the live provider rebuilds it when they change). */
export function providerBuilder(config: Config, parts: { database: Database; store: Store; pages: PageRenderer; keyEncryptionKey: string }): (jwks: { keys: JWK[] }, cookieKeys: string[]) => Provider {
  const adapter = createOidcAdapter(parts.database, { clients: parts.store.clients, clientMetadata });
  const pairwiseSubjectSecret = derivedSecret(parts.keyEncryptionKey, 'pairwise-subject');
  const nonceSecret = dpopNonceSecret(parts.keyEncryptionKey);
  return (jwks, cookieKeys) =>
    createProvider({
      issuer: issuerOf(config),
      adapter,
      jwks,
      cookieKeys,
      dpopNonceSecret: nonceSecret,
      ttl: {
        accessToken: config.accessTokenTtl,
        idToken: config.idTokenTtl,
        refreshToken: config.refreshTokenTtl,
        session: config.sessionTtl,
        interaction: config.interactionTtl,
      },
      accounts: parts.store.accounts,
      profileBindings: parts.store.profileBindings,
      profileChoices: parts.store.profileChoices,
      severalUpstreams: upstreamEntries(config).length > 1,
      pages: parts.pages,
      trustProxy: config.trustProxy,
      allowLoopbackRequests: config.nodeEnv !== 'production',
      clientsWithoutProfiles: [consoleClientId],
      pairwiseSubjectSecret,
      resourceServers: parts.store.resourceServers,
    });
}
