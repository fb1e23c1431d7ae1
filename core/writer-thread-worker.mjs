// Worker entry for core/writer-thread.ts: workers do not inherit the main thread's TypeScript
// loader, so register it here as bin/traffic.mjs does, then load the body.
import { register } from 'tsx/esm/api';
register();
await import('./writer-thread-worker.ts');
