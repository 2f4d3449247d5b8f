// What every relying-party interop test starts from: a real SMTP server, a
// broker delivering to it, one person's two MBS profiles under one email (a
// PartnerSource one of Contoso Partners and a CustomerSource one of Contoso
// Retail, as associateFirstProfile expects), the peer's two portals
// registered and started, and Chromium.
import type { Browser } from 'playwright-core';
import { ClientAdministration, type NewClient } from '../../../src/admin/clientAdministration.ts';
import type { Environment } from '../../../src/config/config.ts';
import type { Portal, ProfileInput } from '../../../src/domain/records.ts';
import { freePort, startBroker, type RunningBroker } from '../../support/broker.ts';
import { launchChromium } from '../../support/chromium.ts';
import { buildProfile } from '../../support/factories.ts';
import { TestSmtpServer } from '../../support/smtp.ts';

/** A portal of the peer under test: its origin is reserved before it is registered, then it starts. */
export interface PeerPortal {
  readonly name: string;
  reserve(): Promise<string>;
  stop(): Promise<void>;
}

export interface InteropWorld {
  running: RunningBroker;
  smtp: TestSmtpServer;
  chromium: Browser;
  stop(): Promise<void>;
}

export interface InteropWorldOptions<Peer extends PeerPortal> {
  /** PartnerSource's portal, then CustomerSource's. */
  portals: readonly [Peer, Peer];
  profiles: readonly ProfileInput[];
  /** Added to the broker's environment (SMTP and a fast outbox are always set). */
  environment?: Environment;
  /** Registers the portal at `origin` with the broker as the peer's users would, then starts it. */
  registerAndStart(portal: Peer, kind: Portal, origin: string, running: RunningBroker): Promise<void>;
}

/** The person's two profiles: `ids.partner` at Contoso Partners, `ids.customer` at Contoso Retail. */
export function contosoProfiles(email: string, ids: { partner: string; customer: string }): { partnerProfile: ProfileInput; customerProfile: ProfileInput } {
  return {
    partnerProfile: buildProfile({ id: ids.partner, portal: 'partnersource', email, organization: 'Contoso Partners', roles: ['partner-admin'] }),
    customerProfile: buildProfile({ id: ids.customer, portal: 'customersource', email, organization: 'Contoso Retail', roles: ['customer-admin', 'billing'] }),
  };
}

export async function startInteropWorld<Peer extends PeerPortal>(options: InteropWorldOptions<Peer>): Promise<InteropWorld> {
  const smtp = new TestSmtpServer(await freePort());
  await smtp.start();
  const running = await startBroker({ SMTP_URL: smtp.url, OUTBOX_INTERVAL: '25', ...options.environment });
  const [partnerSource, customerSource] = options.portals;
  await options.registerAndStart(partnerSource, 'partnersource', await partnerSource.reserve(), running);
  await options.registerAndStart(customerSource, 'customersource', await customerSource.reserve(), running);
  for (const profile of options.profiles) await running.broker.store.profiles.upsert(profile);
  const chromium = await launchChromium();
  return {
    running,
    smtp,
    chromium,
    async stop() {
      await chromium.close();
      for (const portal of options.portals) await portal.stop();
      await running.stop();
      await smtp.stop();
    },
  };
}

/** A portal the peer runs with a client secret (a confidential web client). */
export interface ConfidentialPeerPortal extends PeerPortal {
  start(issuer: string, clientId: string, clientSecret: string): Promise<void>;
}

/**
 * Registers a confidential, first-party portal (its `/callback`, its
 * `/signed-out` page, and what `more` adds for the origin) and starts it
 * with its secret.
 */
export function registerConfidentialPortal(more: (origin: string) => Partial<NewClient> = () => ({})) {
  return async (portal: ConfidentialPeerPortal, kind: Portal, origin: string, running: RunningBroker): Promise<void> => {
    const clients = new ClientAdministration(running.broker.store.clients);
    const registered = await clients.register({ name: portal.name, portal: kind, firstParty: true, redirectUris: [`${origin}/callback`], postLogoutRedirectUris: [`${origin}/signed-out`], ...more(origin) });
    await portal.start(running.issuer, registered.client.id, registered.clientSecret!);
  };
}
