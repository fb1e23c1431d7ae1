/**
 * The cloned-plate detector's public surface, for the API and the one-process platform:
 *
 *   const alerts = getMemoryAlertSink();            // process-wide ring of recent alerts
 *   alerts.subscribe((a) => sse.send(a));           // live alerts
 *   alerts.recent(10);                              // newest first
 *   await runDetect({ from: 'memory:traffic-raw', to: alerts, groupId: 'traffic-detect',
 *                     ...DEFAULT_PARAMS, dim: resolveDimensionFile({ dataDir }), quiet: true });
 *
 * See docs/detector.md.
 */
export { alertId, pairKey, parseAlert, type Alert, type AlertPass, type RuleName } from './alert.ts';
export { CloneDetector, DEFAULT_PARAMS, type DetectorOptions, type DetectorStats, type PlateFns } from './core.ts';
export { distanceLookup, haversineKm, loadDimension, resolveDimensionFile, type Dimension } from './geo.ts';
export { warmUp, type WarmUpResult } from './warmup.ts';
export { runDetect, summaryLine, type DetectRunOptions, type DetectSummary } from './run.ts';
export {
  getMemoryAlertSink,
  JsonlAlertSink,
  MemoryAlertSink,
  openAlertSink,
  RedisAlertSink,
  teeSinks,
  type AlertListener,
  type AlertSink,
  type SinkOptions,
} from './sinks.ts';
