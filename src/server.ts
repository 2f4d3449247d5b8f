#!/usr/bin/env -S node --max-semi-space-size=8
// Process entry of the broker: reads the configuration, assembles the broker
// (src/assembly/broker.ts) and serves it until SIGTERM or SIGINT. The same as
// `mbs-broker serve`; nothing imports this file.
import { createBroker } from './assembly/broker.ts';
import { loadConfig } from './config/config.ts';
import { serveUntilSignalled } from './operations/lifecycle.ts';
import { startTracing } from './operations/tracing.ts';

const config = loadConfig();
const tracing = await startTracing();
await serveUntilSignalled(await createBroker({ config }), config, tracing);
