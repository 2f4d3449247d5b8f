// The dev upstream as a process of its own, for the benchmark: the broker
// reaches it over HTTP as `UPSTREAM=oidc`, as it reaches Microsoft's in
// production, so the broker's CPU figures hold the broker's work only and the
// upstream's time is counted apart. Prints its issuer as one JSON line.
import { createServer } from 'node:http';
import { createDevUpstream } from '../src/upstream/devUpstream.ts';

const port = Number(process.env.PORT ?? 0);
const issuer = `http://127.0.0.1:${port}`;
const { app } = await createDevUpstream({
  issuer,
  clients: [{ clientId: process.env.BENCH_UPSTREAM_CLIENT_ID!, clientSecret: process.env.BENCH_UPSTREAM_CLIENT_SECRET!, redirectUris: [process.env.BENCH_UPSTREAM_REDIRECT_URI!] }],
});
const server = createServer(app.callback());
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ issuer })}\n`));
process.once('SIGTERM', () => server.close(() => process.exit(0)));
