/**
 * The in-process view of live flow monitoring, for the API, the dashboard and SSE: every
 * checkpoint's current level, the recent level changes (newest first, idempotent by id) and
 * listeners for level changes and for closed flow windows.
 */
import type { FlowWindow } from '../windows/core.ts';
import type { CheckpointLevel, CongestionAlert } from './levels.ts';

export type ChangeListener = (change: CongestionAlert) => void;
export type WindowListener = (windows: readonly FlowWindow[]) => void;

export class CongestionState {
  private levels: CheckpointLevel[] = [];
  private readonly ring: CongestionAlert[] = [];
  private readonly ids = new Set<string>();
  private readonly idOrder: string[] = [];
  private readonly changeListeners = new Set<ChangeListener>();
  private readonly windowListeners = new Set<WindowListener>();
  /** Changes ever stored. */
  total = 0;

  constructor(
    readonly name = 'default',
    private readonly capacity = 1000,
    private readonly rememberIds = 100_000,
  ) {}

  /** Every checkpoint's latest evaluated window and level, by KKMC. */
  current(): CheckpointLevel[] {
    return this.levels.map((l) => ({ ...l }));
  }

  /** Newest first. */
  recent(limit = 10): CongestionAlert[] {
    return this.ring.slice(0, limit);
  }

  setLevels(levels: readonly CheckpointLevel[]): void {
    this.levels = levels.map((l) => ({ ...l }));
  }

  /** Stores level changes (skipping ids seen before); returns how many were new. */
  add(changes: readonly CongestionAlert[]): number {
    let added = 0;
    for (const c of changes) {
      if (this.ids.has(c.id)) continue;
      this.ids.add(c.id);
      this.idOrder.push(c.id);
      if (this.idOrder.length > this.rememberIds) this.ids.delete(this.idOrder.shift()!);
      this.ring.unshift(c);
      if (this.ring.length > this.capacity) this.ring.pop();
      this.total++;
      added++;
      for (const l of this.changeListeners) safe(() => l(c));
    }
    return added;
  }

  /** Announces closed flow windows (e.g. the per-minute flow on the SSE stream). */
  publishWindows(windows: readonly FlowWindow[]): void {
    if (windows.length === 0) return;
    for (const l of this.windowListeners) safe(() => l(windows));
  }

  subscribe(listener: ChangeListener): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  subscribeWindows(listener: WindowListener): () => void {
    this.windowListeners.add(listener);
    return () => this.windowListeners.delete(listener);
  }
}

function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // A failing listener (a closed SSE client) must not stop monitoring.
  }
}

const states = new Map<string, CongestionState>();

/** The process-wide state of that name (created on first use). */
export function getCongestionState(name = 'default'): CongestionState {
  let s = states.get(name);
  if (s === undefined) states.set(name, (s = new CongestionState(name)));
  return s;
}
