// Worker entry for etl/stage-thread.ts: workers do not inherit the main thread's TypeScript
// loader, so register it here as bin/traffic.mjs does, then load the body.
import { register } from 'tsx/esm/api';
register();
await import('./stage-thread-worker.ts');
