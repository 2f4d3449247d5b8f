// Requests sent byte for byte as written: fetch would normalise the path,
// refuse unusual methods and re-encode bodies, which is exactly what the
// bad-input and protected-path tests must not have done for them.
import { request } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/** One request over a fresh connection; a connection the server drops answers status 0. */
export function rawRequest(issuer: string, outgoing: RawRequest): Promise<RawAnswer> {
  const { hostname, port } = new URL(issuer);
  const headers: Record<string, string | number> = { ...outgoing.headers };
  if (outgoing.body !== undefined) headers['content-length'] = Buffer.byteLength(outgoing.body);
  return new Promise((resolve) => {
    const sent = request({ hostname, port, method: outgoing.method, path: outgoing.path, headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    });
    // A server may answer (413, 431) and close before reading the whole body.
    sent.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    sent.end(outgoing.body);
  });
}
