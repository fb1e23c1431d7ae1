/**
 * The sink's statements: rows of its handler calls, already split by shard, queue per shard and
 * go out as statements of up to `batchSize` rows (taken in arrival order, from any calls), with up
 * to `statements` statements of a shard running at once; a statement that would not be full
 * starts only when none of its shard runs. A call's promise resolves once every one
 * of its rows is stored, or rejects with the first failed statement's error (the bus then
 * redelivers the call; rows of it still queued are dropped, the redelivery brings them again).
 *
 * Why a queue per shard rather than a statement per call: the shards are unevenly loaded (MyCat's
 * murmur ring put 71% of the real sample's rows on one of two shards), so the busy shard's
 * statements must follow each other with no gap while the other shard idles now and then; and
 * rows of several calls (several Kafka partitions) share one statement, one transaction and one
 * plate_stats update.
 */

export interface ShardWriterOptions {
  /** Most rows in one statement. */
  batchSize: number;
  /** How long queued rows may wait for more to fill a statement (0 = go as soon as a statement is free). */
  maxWaitMs: number;
  /** Statements of one shard running at once (≥ 1). */
  statements: number;
}

interface Ticket {
  /** Pieces not yet stored. */
  left: number;
  failed: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Piece<T> {
  items: T[];
  ticket: Ticket;
  /** performance.now() when queued. */
  at: number;
}

interface Queue<T> {
  pieces: Piece<T>[];
  rows: number;
  running: number;
  timer: NodeJS.Timeout | null;
}

export class ShardWriter<T> {
  private readonly queues: Queue<T>[];

  constructor(
    shards: number,
    private readonly write: (shard: number, items: T[]) => Promise<void>,
    private readonly o: ShardWriterOptions,
  ) {
    this.queues = Array.from({ length: shards }, () => ({ pieces: [], rows: 0, running: 0, timer: null }));
  }

  /** Queues one call's rows (`perShard[i]` for shard i); resolves once all of them are stored. */
  add(perShard: readonly T[][]): Promise<void> {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const ticket: Ticket = { left: 0, failed: false, resolve, reject };
    for (const items of perShard) if (items.length) ticket.left++;
    if (ticket.left === 0) return Promise.resolve();
    const now = performance.now();
    perShard.forEach((items, shard) => {
      if (!items.length) return;
      const q = this.queues[shard]!;
      q.pieces.push({ items, ticket, at: now });
      q.rows += items.length;
    });
    perShard.forEach((items, shard) => {
      if (items.length) this.pump(shard);
    });
    return done;
  }

  /** Rows queued (not yet in a statement), per shard. */
  get queued(): number[] {
    return this.queues.map((q) => q.rows);
  }

  private pump(shard: number): void {
    const q = this.queues[shard]!;
    while (q.running < this.o.statements && q.rows > 0) {
      // A statement that would not be full waits while another of this shard runs: more rows
      // come meanwhile, and each statement (a transaction and a plate upsert) then carries more.
      if (q.rows < this.o.batchSize && q.running > 0) return;
      if (q.rows < this.o.batchSize && this.o.maxWaitMs > 0) {
        const wait = q.pieces[0]!.at + this.o.maxWaitMs - performance.now();
        if (wait > 0) {
          q.timer ??= setTimeout(() => {
            q.timer = null;
            this.pump(shard);
          }, wait);
          return;
        }
      }
      if (q.timer) {
        clearTimeout(q.timer);
        q.timer = null;
      }
      const items: T[] = [];
      const tickets: Ticket[] = [];
      while (items.length < this.o.batchSize && q.pieces.length > 0) {
        const p = q.pieces[0]!;
        if (p.ticket.failed) {
          // Its call already failed and will be redelivered whole.
          q.pieces.shift();
          q.rows -= p.items.length;
          continue;
        }
        const room = this.o.batchSize - items.length;
        if (p.items.length <= room) {
          q.pieces.shift();
          for (const it of p.items) items.push(it);
          q.rows -= p.items.length;
        } else {
          // Split: the rest stays queued as one more piece of the same call.
          for (let i = 0; i < room; i++) items.push(p.items[i]!);
          p.items = p.items.slice(room);
          p.ticket.left++;
          q.rows -= room;
        }
        tickets.push(p.ticket);
      }
      if (items.length === 0) continue;
      q.running++;
      this.write(shard, items)
        .then(
          () => {
            for (const t of tickets) if (--t.left === 0 && !t.failed) t.resolve();
          },
          (err: unknown) => {
            for (const t of tickets) {
              if (t.failed) continue;
              t.failed = true;
              t.reject(err);
            }
          },
        )
        .finally(() => {
          q.running--;
          this.pump(shard);
        });
    }
  }
}
