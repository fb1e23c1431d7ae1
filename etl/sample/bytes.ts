/**
 * Output bytes built directly, without one huge JS string per file: the sample writes ~300 MB for
 * 45 days, and string concatenation + re-encoding was most of the time (and of the GC) when measured.
 * ASCII goes in with latin1 writes; other text is encoded once per distinct value and copied.
 */
import iconv from 'iconv-lite';

export class ByteWriter {
  private buf: Buffer;
  length = 0;

  constructor(initial = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(extra: number): void {
    if (this.length + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + extra) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  /** Text known to be ASCII (ids, times, codes, XML markup). */
  ascii(s: string): void {
    this.ensure(s.length);
    this.length += this.buf.write(s, this.length, 'latin1');
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  byte(c: number): void {
    this.ensure(1);
    this.buf[this.length++] = c;
  }

  /** Non-negative integer in decimal. */
  uint(n: number): void {
    this.ascii(String(n));
  }

  /** The bytes written (a view; copy if the writer is reused). */
  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

const ASCII = /^[\x00-\x7f]*$/;

/** Encodes each distinct string once (GB18030 or UTF-8), ASCII strings pass straight through. */
export class EncodedCache {
  private readonly cache = new Map<string, Buffer>();

  constructor(private readonly encoding: 'gb18030' | 'utf8') {}

  write(w: ByteWriter, s: string): void {
    if (ASCII.test(s)) w.ascii(s);
    else w.bytes(this.encode(s));
  }

  encode(s: string): Buffer {
    let b = this.cache.get(s);
    if (b === undefined) {
      b = this.encoding === 'utf8' ? Buffer.from(s, 'utf8') : iconv.encode(s, 'gb18030');
      this.cache.set(s, b);
    }
    return b;
  }
}
