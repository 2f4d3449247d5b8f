// A portal's back-channel logout endpoint (OpenID Connect Back-Channel
// Logout) on a loopback port: a real HTTP server that records each logout
// token the broker posts to it.
import { createServer, type Server } from 'node:http';
import { freePort } from './broker.ts';

/** A portal's back-channel endpoint: records each logout token it receives. */
export class LogoutEndpoint {
  readonly received: Array<{ path: string; logoutToken: string }> = [];
  #server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.port = await freePort();
    this.#server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        this.received.push({ path: request.url ?? '', logoutToken: new URLSearchParams(body).get('logout_token') ?? '' });
        response.writeHead(200, { 'cache-control': 'no-store' }).end();
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(this.port, '127.0.0.1', resolve));
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.#server!.close(() => resolve()));
  }
}
