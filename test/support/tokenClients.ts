// Confidential clients that call the token endpoint without a person's
// browser (services by client credentials, portal backends by token
// exchange), registered with the CLI, and the token endpoint's raw answer
// for the requests openid-client would refuse to send.
import * as client from 'openid-client';
import type { RunningBroker } from './broker.ts';
import { runCliJson } from './cli.ts';
import { redirectUri } from './journey.ts';

export interface TokenClient {
  clientId: string;
  secret: string;
  configuration: client.Configuration;
}

/** A confidential client of `portal` with one grant type, as openid-client sees it. */
export async function registerTokenClient(running: RunningBroker, id: string, portal: 'partnersource' | 'customersource', grantType: string): Promise<TokenClient> {
  const registered = await runCliJson<{ client_id: string; client_secret: string }>(['clients', 'add', '--id', id, '--portal', portal, '--redirect-uri', redirectUri, '--grant-type', grantType], running.environment);
  const configuration = await client.discovery(new URL(running.issuer), id, { token_endpoint_auth_method: 'client_secret_basic' }, client.ClientSecretBasic(registered.client_secret), { execute: [client.allowInsecureRequests] });
  return { clientId: id, secret: registered.client_secret, configuration };
}

/** The token endpoint's status and JSON answer to a form posted by `caller`. */
export async function tokenEndpoint(running: RunningBroker, caller: Pick<TokenClient, 'clientId' | 'secret'>, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${running.issuer}/token`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${caller.clientId}:${caller.secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
