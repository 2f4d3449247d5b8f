// The Express portal (test/interop/peers/expressPortal.ts) as a child
// process on the Node that runs the tests, with express and
// express-openid-connect from the project's devDependencies.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { PortalProcess } from './portalProcess.ts';

const portalScript = fileURLToPath(new URL('./expressPortal.ts', import.meta.url));
const require = createRequire(import.meta.url);

/**
 * The installed versions of express-openid-connect and express. They are
 * devDependencies, so `npm ci` installs them; a missing one is an
 * installation error, not a reason to skip.
 */
export function expressVersions(): Record<string, string> {
  const version = (name: string) => (require(`${name}/package.json`) as { version: string }).version;
  return { 'express-openid-connect': version('express-openid-connect'), express: version('express') };
}

/** The Express portal as PartnerSource or CustomerSource. */
export class ExpressPortal extends PortalProcess {
  start(issuer: string, clientId: string, clientSecret: string): Promise<void> {
    return this.launch(process.execPath, [portalScript], {
      ISSUER: issuer,
      CLIENT_ID: clientId,
      CLIENT_SECRET: clientSecret,
      // The middleware derives its cookie encryption key from this.
      SECRET: randomBytes(32).toString('base64url'),
      PORT: String(this.port),
      PORTAL_NAME: this.name,
    });
  }

  /** The requests the portal answered, as `METHOD /path status` lines. */
  requests(): string[] {
    return this.output.split('\n').filter((line) => /^[A-Z]+ \/\S* \d{3}$/.test(line));
  }
}
