// Runs the two development demo portals beside the broker: registers each as
// a first-party client with a fresh secret (kept only in memory), seeds the
// demo MBS profiles on first start, and starts each portal on its own port.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ClientAdministration } from '../admin/clientAdministration.ts';
import type { DirectoryAdministration } from '../admin/directoryAdministration.ts';
import { portalBranding } from '../directory/portals.ts';
import type { Logger } from '../logging.ts';
import type { Portal } from '../domain/records.ts';
import { createDemoPortal, type DemoPortal } from './demoPortal.ts';

export const demoProfilesFile = fileURLToPath(new URL('../../config/demo-profiles.csv', import.meta.url));

/** The client id each demo portal is registered under. */
export const demoClientId = (portal: Portal): string => `${portal}-demo`;

/** Where a demo portal is reached: the issuer's host name on the portal's own port. */
export function demoPortalUrl(issuer: string, port: number): string {
  const url = new URL(issuer);
  url.port = String(port);
  return url.origin;
}

export interface DemoPortalsOptions {
  issuer: string;
  host?: string | undefined;
  ports: Record<Portal, number>;
  clients: ClientAdministration;
  directory: DirectoryAdministration;
  mailboxUrl?: string | undefined;
  logger: Logger;
}

export interface RunningDemoPortals {
  portals: Record<Portal, DemoPortal>;
  close(): Promise<void>;
}

export async function startDemoPortals(options: DemoPortalsOptions): Promise<RunningDemoPortals> {
  if ((await options.directory.listProfiles({ limit: 1 })).total === 0) {
    const report = await options.directory.importProfiles(demoProfilesFile, readFileSync(demoProfilesFile, 'utf8'), 'demo');
    options.logger.info({ profiles: report }, 'seeded the demo MBS profiles');
  }
  const portals = {} as Record<Portal, DemoPortal>;
  const names = Object.keys(portalBranding) as Portal[];
  for (const portal of names) {
    const baseUrl = demoPortalUrl(options.issuer, options.ports[portal]);
    const other = names.find((candidate) => candidate !== portal)!;
    const registered = await options.clients.registerOrReplace({
      id: demoClientId(portal),
      name: `${portalBranding[portal].name} (demo)`,
      portal,
      firstParty: true,
      redirectUris: [`${baseUrl}/callback`],
      postLogoutRedirectUris: [`${baseUrl}/`],
      grantTypes: ['authorization_code', 'refresh_token'],
      backchannelLogoutUri: `${baseUrl}/backchannel-logout`,
    });
    portals[portal] = createDemoPortal({
      portal,
      issuer: options.issuer,
      clientId: registered.client.id,
      clientSecret: registered.clientSecret!,
      baseUrl,
      otherPortal: { name: portalBranding[other].name, url: `${demoPortalUrl(options.issuer, options.ports[other])}/` },
      mailboxUrl: options.mailboxUrl,
      host: options.host,
      logger: options.logger,
    });
    await portals[portal].listen(options.ports[portal]);
    options.logger.info({ portal, url: baseUrl }, `${portalBranding[portal].name} demo portal listening on ${baseUrl}`);
  }
  return {
    portals,
    async close() {
      await Promise.all(Object.values(portals).map((portal) => portal.close()));
    },
  };
}
