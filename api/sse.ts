/**
 * The live stream (`GET /api/stream`) for every dashboard at once: one subscription to the alert
 * and congestion feeds, one timer that asks the store for the per-minute flow once per tick and
 * sends the same payload to every client, one ping timer. A cap on concurrent streams (503 beyond
 * it), and backpressure per client: a periodic snapshot (flow) is skipped for a client that has
 * not drained the previous one; a client whose unsent backlog still grows past a limit is cut
 * (its EventSource reconnects and the page re-reads the lists), so one slow reader never holds
 * the server's memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TrafficError } from '../core/errors.ts';

export interface SseHubOptions {
  /** Concurrent streams allowed; the next one gets 503. */
  max: number;
  /** Wall-clock ms between flow updates. */
  flowIntervalMs: number;
  /** Wall-clock ms between `: ping` comments (keeps proxies from closing an idle stream). */
  pingMs?: number;
  /** Unsent bytes a client may hold before it is cut. */
  maxBacklogBytes?: number;
  /** The flow payload (asked once per tick, whatever the number of clients). */
  flow: () => Promise<unknown>;
  /** Live sources: each returns its unsubscribe function. */
  sources: ((emit: (event: string, data: unknown) => void) => () => void)[];
}

interface Client {
  res: ServerResponse;
  /** write() returned false and 'drain' has not come yet. */
  waiting: boolean;
}

export class SseHub {
  private readonly clients = new Set<Client>();
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void)[] = [];
  private flowInFlight: Promise<void> | null = null;
  private lastFlow: string | null = null;
  /** Flow queries made (tests read it: one per tick, not one per client). */
  flowQueries = 0;

  constructor(private readonly opts: SseHubOptions) {}

  get size(): number {
    return this.clients.size;
  }

  /** Serves one stream until the client goes away (or `closeAll`). 503 when at the cap. */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.clients.size >= this.opts.max) {
      res.setHeader('Retry-After', '10');
      throw new TrafficError('SERVICE_UNAVAILABLE', `too many live streams open (limit ${this.opts.max}, TRAFFIC_SSE_MAX); try again later`);
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 3000\n\n');
    const client: Client = { res, waiting: false };
    this.clients.add(client);
    if (this.clients.size === 1) this.start();
    if (this.lastFlow !== null) this.send(client, this.lastFlow, true);
    else void this.tick();
    await new Promise<void>((resolve) => {
      const end = (): void => {
        if (!this.clients.delete(client)) {
          resolve();
          return;
        }
        if (this.clients.size === 0) this.stop();
        resolve();
      };
      req.once('close', end);
      res.once('close', end);
    });
  }

  /** Ends every stream (shutdown). */
  closeAll(): void {
    for (const c of this.clients) c.res.end();
    this.clients.clear();
    this.stop();
  }

  private start(): void {
    for (const source of this.opts.sources) this.unsubscribe.push(source((event, data) => this.broadcast(frame(event, data), false)));
    const flow = setInterval(() => void this.tick(), this.opts.flowIntervalMs);
    const ping = setInterval(() => this.broadcast(': ping\n\n', true), this.opts.pingMs ?? 15_000);
    flow.unref();
    ping.unref();
    this.timers = [flow, ping];
  }

  private stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const u of this.unsubscribe) u();
    this.unsubscribe = [];
    this.lastFlow = null;
  }

  /** One flow query for everyone; a tick while the previous query still runs is skipped. */
  private tick(): Promise<void> {
    if (this.flowInFlight) return this.flowInFlight;
    this.flowQueries++;
    this.flowInFlight = this.opts
      .flow()
      .then(
        (payload) => {
          if (this.clients.size === 0) return;
          this.lastFlow = frame('flow', payload);
          this.broadcast(this.lastFlow, true);
        },
        () => undefined, // store busy or down: the next tick tries again
      )
      .finally(() => {
        this.flowInFlight = null;
      });
    return this.flowInFlight;
  }

  private broadcast(text: string, droppable: boolean): void {
    for (const c of this.clients) this.send(c, text, droppable);
  }

  private send(c: Client, text: string, droppable: boolean): void {
    const res = c.res;
    if (res.destroyed || res.writableEnded) return;
    if (droppable && c.waiting) return;
    if (res.writableLength > (this.opts.maxBacklogBytes ?? 1 << 20)) {
      res.destroy();
      return;
    }
    if (!res.write(text) && !c.waiting) {
      c.waiting = true;
      res.once('drain', () => {
        c.waiting = false;
      });
    }
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
