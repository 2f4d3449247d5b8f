// The administration services for one command of the command line: opens
// and migrates the store named by the configuration, makes the services
// acting as 'cli' (the same ones the admin API uses) and closes the store
// after the command. No server runs: an initial access token is made by the
// broker's own provider, built from the same parts as the broker's.
import { adminServices, type AdminServices } from '../admin/adminServices.ts';
import { systemClock } from '../clock.ts';
import type { Config } from '../config/config.ts';
import { createPageRenderer } from '../web/pages.ts';
import { Outbox } from '../mail/outbox.ts';
import { createEmailRenderer, type EmailRenderer } from '../mail/render.ts';
import { issueInitialAccessToken } from '../provider/provider.ts';
import { openDatabase, type Database } from '../store/database.ts';
import { liveSessionsOfAccount, revokeAccount } from '../store/oidcAdapter.ts';
import { issuerOf, openStorage, providerBuilder, type Storage } from './parts.ts';

export async function withAdministration<Result>(config: Config, work: (services: AdminServices) => Promise<Result>): Promise<Result> {
  const database = openDatabase({ url: config.databaseUrl, poolMax: config.databasePoolMax });
  // Invitations are rendered as the broker renders emails; they wait in the outbox for the broker to send.
  const emails = createEmailRenderer({ cache: true });
  try {
    const storage = await openStorage(config, database, { clock: systemClock });
    return await work(cliServices(config, database, storage, emails));
  } finally {
    await emails.close();
    await database.destroy();
  }
}

function cliServices(config: Config, database: Database, { store, keys, keyEncryptionKey }: Storage, emails: EmailRenderer): AdminServices {
  return adminServices(
    {
      store,
      clock: systemClock,
      emails,
      issuer: issuerOf(config),
      supportEmail: config.supportEmail,
      invitationTtl: config.adminInvitationTtl * 1000,
      outbox: new Outbox(database, systemClock, keyEncryptionKey),
      // No portal listens to the command line: sessions end without back-channel notices.
      sessions: { list: (accountId) => liveSessionsOfAccount(database, accountId), revoke: (accountId) => revokeAccount(database, accountId) },
      // Running instances read rotated keys within KEY_REFRESH_INTERVAL.
      keys: {
        async list() {
          await keys.ensureKeys();
          return keys.list();
        },
        async rotateSigningKeys() {
          await keys.ensureKeys();
          return keys.rotate();
        },
        rotateCookieKey: () => keys.rotateCookieKey(),
        listCookieKeys: () => keys.cookieKeyStatuses(),
      },
      async issueInitialAccessToken(portal, expiresInSeconds) {
        await keys.ensureKeys();
        const build = providerBuilder(config, { database, store, keyEncryptionKey, pages: createPageRenderer({ cache: true, supportEmail: config.supportEmail }) });
        return issueInitialAccessToken(build(await keys.privateJwks(), await keys.cookieKeys()), portal, expiresInSeconds);
      },
    },
    'cli',
  );
}
