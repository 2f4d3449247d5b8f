// An example API (a resource server) that accepts the broker's JWT access
// tokens (RFC 9068), as the README's "APIs as resource servers" shows: it
// verifies each bearer token's signature against the broker's JWKS, its
// type (`at+jwt`), issuer and audience (this API's identifier), and a
// scope, and answers with who called. test/provider/resourceServers.test.ts
// runs it against a real broker.
//
//   ISSUER=http://localhost:3000 API_IDENTIFIER=https://orders.example/api PORT=4000 node examples/resourceServer.ts
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

export interface ResourceServerOptions {
  /** The broker's issuer, e.g. https://sign-in.example.com. */
  issuer: string;
  /** This API's identifier as registered with `mbs-broker apis add`: the tokens' `aud`. */
  audience: string;
  /** The scope every request needs. */
  requiredScope: string;
}

/** The token's claims when it is a valid access token for this API with the scope; else why not. */
export async function verifyAccessToken(token: string, options: ResourceServerOptions, keys: ReturnType<typeof createRemoteJWKSet>): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, keys, {
    issuer: options.issuer,
    audience: options.audience,
    typ: 'at+jwt', // RFC 9068 §4: refuse ID tokens and other JWTs signed by the same keys
    algorithms: ['RS256'],
  });
  const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
  if (!scopes.includes(options.requiredScope)) throw new Error(`the token lacks the scope ${options.requiredScope}`);
  return payload;
}

export function createResourceServer(options: ResourceServerOptions): Server {
  const keys = createRemoteJWKSet(new URL(`${options.issuer.replace(/\/$/, '')}/jwks`));
  return createServer((request: IncomingMessage, response: ServerResponse) => {
    const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
    };
    const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
    if (!token) return answer(401, { error: 'invalid_request' }, { 'www-authenticate': 'Bearer' });
    verifyAccessToken(token, options, keys).then(
      (claims) => answer(200, { sub: claims.sub, client_id: claims.client_id, act: claims.act, scope: claims.scope, mbs_profile_ids: claims.mbs_profile_ids, mbs_roles: claims.mbs_roles }),
      () => answer(401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' }),
    );
  });
}

if (import.meta.main) {
  const { ISSUER = 'http://localhost:3000', API_IDENTIFIER = 'https://orders.example/api', REQUIRED_SCOPE = 'orders:read', PORT = '4000' } = process.env;
  createResourceServer({ issuer: ISSUER, audience: API_IDENTIFIER, requiredScope: REQUIRED_SCOPE }).listen(Number(PORT), () => console.log(`orders API on http://localhost:${PORT}`));
}
