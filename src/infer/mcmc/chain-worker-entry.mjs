// Entry of a sampleParallel worker thread. The package runs from its TypeScript sources
// (through tsx, as bin/mixppl.js does), and a worker thread does not inherit the main
// thread's module hooks: register tsx here, then load the worker module.
import { register } from 'tsx/esm/api';

register();
const { chainWorkerMain } = await import('./chain-worker.ts');
chainWorkerMain();
