/**
 * Short-term forecasts for the API from the store's history: `/api/predict/flow?at=` and the
 * dashboard's next three hours after the stream clock. The history before an origin is read once
 * and kept per origin (every checkpoint and horizon of that origin share it).
 *
 * Stream clock = the latest GCSJ in the store, never the wall clock. An origin after the stream
 * clock is refused: the hours before it are not in yet, and a forecast from a half-seen hour
 * would be silently low.
 */
import { TrafficError } from '../core/errors.ts';
import { chinaHourNumber, hourNumberText } from '../core/time.ts';
import type { HourlyHistory } from '../models/forecast.ts';
import { readHistoryStore, type Forecaster, type ForecastValue } from '../models/forecaster.ts';
import type { TrafficStore } from '../store/store-api.ts';

/** Origins kept; a dashboard and a few analysts touch a handful. */
const MAX_ORIGINS = 256;

interface Entry {
  /** Stream clock when read. */
  latest: string;
  history: Promise<HourlyHistory>;
}

export class ForecastService {
  private readonly cache = new Map<number, Entry>();

  constructor(
    private readonly store: Pick<TrafficStore, 'hourlyByCheckpoint'>,
    readonly forecaster: Forecaster,
  ) {}

  /**
   * History before an origin, cached. An entry is reused while the stream clock has not moved,
   * or for good once the clock was already an hour past the origin when it was read (records
   * arrive at most minutes late, so the hours before the origin are settled).
   */
  history(origin: number, latest: string): Promise<HourlyHistory> {
    const hit = this.cache.get(origin);
    if (hit && (hit.latest === latest || chinaHourNumber(hit.latest) >= origin + 1)) {
      // Refresh its place in the LRU order.
      this.cache.delete(origin);
      this.cache.set(origin, hit);
      return hit.history;
    }
    const span = this.forecaster.span(origin, origin);
    const history = readHistoryStore(this.store, this.forecaster, span.start, origin);
    const entry = { latest, history };
    this.cache.set(origin, entry);
    history.catch(() => this.cache.get(origin) === entry && this.cache.delete(origin));
    while (this.cache.size > MAX_ORIGINS) this.cache.delete(this.cache.keys().next().value!);
    return history;
  }

  /** The forecast of one checkpoint for the hour starting at hour number `target`. */
  async at(kkmc: string, target: number, horizon: number, latest: string | null): Promise<ForecastValue> {
    const origin = target - (horizon - 1);
    if (latest === null || hourNumberText(origin) > latest) {
      throw new TrafficError(
        'BAD_REQUEST',
        `the forecast origin ${hourNumberText(origin)} (at − (horizon − 1) h) is after the stream clock ` +
          `(latest GCSJ ${latest ?? 'none: the store is empty'}): the hours before it are not in yet`,
      );
    }
    return this.forecaster.forecast(await this.history(origin, latest), kkmc, target, horizon);
  }

  /**
   * The current hour of the stream clock and the two after it, forecast from the origin at the
   * start of the current hour (horizons 1, 2, 3), for one checkpoint or summed over all.
   */
  async next3(latest: string, kkmc?: string): Promise<{ hour: string; horizon: number; predicted: number }[]> {
    const origin = chinaHourNumber(latest.slice(0, 13) + ':00:00');
    const history = await this.history(origin, latest);
    const codes = kkmc !== undefined ? [kkmc] : this.forecaster.checkpoints;
    return this.forecaster.horizons.map((horizon) => {
      const target = origin + horizon - 1;
      let predicted = 0;
      for (const code of codes) predicted += this.forecaster.forecast(history, code, target, horizon).predicted;
      return { hour: hourNumberText(target), horizon, predicted };
    });
  }
}
