/** Test helper: run a source until it has delivered `count` records (or time out), keeping each batch. */
import type { Source, StreamItem } from '../../streaming/bus/index.ts';

export async function collect(source: Source, count: number, timeoutMs = 20_000, onBatch?: (b: StreamItem[]) => Promise<void> | void): Promise<StreamItem[]> {
  const got: StreamItem[] = [];
  const timer = setTimeout(() => void source.stop(), timeoutMs);
  try {
    await source.run(async (batch) => {
      await onBatch?.(batch);
      got.push(...batch);
      if (got.length >= count) void source.stop();
    });
  } finally {
    clearTimeout(timer);
  }
  return got;
}
