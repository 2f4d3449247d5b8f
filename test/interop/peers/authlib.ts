// The authlib portal (test/interop/peers/authlib_portal.py) as a child
// process: Debian's python3 with python3-authlib, python3-flask and
// python3-requests (PyPI is not used).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PortalProcess } from './portalProcess.ts';

export const python = '/usr/bin/python3';
const portalScript = fileURLToPath(new URL('./authlib_portal.py', import.meta.url));

/** The versions of authlib, Flask and requests, or undefined when one is missing. */
function versions(): Record<string, string> | undefined {
  if (!existsSync(python)) return undefined;
  try {
    return JSON.parse(execFileSync(python, ['-c', 'import json, authlib, flask, requests; print(json.dumps({"authlib": authlib.__version__, "flask": flask.__version__, "requests": requests.__version__}))'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Record<string, string>;
  } catch {
    return undefined;
  }
}

/** Whether authlib and Flask are here; CI installs them (.ci/run), so there a missing one is a failure. */
export function authlibVersions(): Record<string, string> | undefined {
  const found = versions();
  if (!found && process.env.CI) throw new Error('python3-authlib, python3-flask or python3-requests is missing: .ci/run installs them');
  return found;
}

/** The authlib portal as PartnerSource or CustomerSource. */
export class AuthlibPortal extends PortalProcess {
  start(issuer: string, clientId: string, clientSecret: string): Promise<void> {
    // The test broker's issuer is http on 127.0.0.1, which authlib refuses
    // without AUTHLIB_INSECURE_TRANSPORT (it allows only https and http://localhost).
    return this.launch(python, [portalScript], { ISSUER: issuer, CLIENT_ID: clientId, CLIENT_SECRET: clientSecret, PORT: String(this.port), PORTAL_NAME: this.name, AUTHLIB_INSECURE_TRANSPORT: '1', PYTHONUNBUFFERED: '1' });
  }
}
