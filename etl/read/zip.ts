/**
 * The zip container of an .xlsx, read lazily: the central directory is listed once and an entry
 * is inflated only when asked for, so an unused sheet (or the theme, or images) costs nothing.
 *
 * Entries are inflated by node:zlib (native), measured twice as fast as fflate's JavaScript
 * inflate on the real workbooks (docs/etl-readers.md); that is most of an .xlsx read. Archives
 * this small reader does not handle (ZIP64 records) are handed to fflate whole.
 *
 * Inflation is bounded (zip bombs): an entry is refused before any inflating when its declared
 * size is over MAX_PART_BYTES, or over 16 MiB at more than 100:1 compression (real workbook parts
 * compress about 8:1; a bomb about 1000:1); and it can never inflate past its declared size
 * (zlib's maxOutputLength; fflate writes into a buffer of exactly that size), so a lying size
 * cannot fill memory either.
 */
import { inflateRawSync } from 'node:zlib';
import { unzipSync } from 'fflate';

interface Entry {
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeader: number;
}

/** Largest part inflated (V8 cannot hold a longer string anyway; ~1.7 M sheet rows). */
export const MAX_PART_BYTES = 500e6;
const RATIO_CHECK_FROM = 16 * 1024 * 1024;
const MAX_RATIO = 100;

/** Why an entry of these sizes is not inflated, or null. */
export function inflationProblem(name: string, compressed: number, uncompressed: number): string | null {
  if (uncompressed > MAX_PART_BYTES) {
    return `${name} would inflate to ${Math.round(uncompressed / 1e6)} MB, over the ${MAX_PART_BYTES / 1e6} MB a part may hold`;
  }
  if (uncompressed > RATIO_CHECK_FROM && uncompressed > MAX_RATIO * compressed) {
    return `${name} would inflate ${Math.round(uncompressed / Math.max(1, compressed))}-fold to ${Math.round(uncompressed / 1e6)} MB (a zip bomb?); workbook parts compress about 8:1`;
  }
  return null;
}

const EOCD_SIG = 0x06054b50;
const CDIR_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

export class ZipArchive {
  private constructor(
    private readonly data: Uint8Array,
    private readonly entries: Map<string, Entry> | null,
    readonly names: ReadonlySet<string>,
    /** Sizes of the entries listed by fflate (ZIP64 archives). */
    private readonly sizes?: Map<string, { compressed: number; uncompressed: number }>,
  ) {}

  /** Lists the archive; throws (a plain Error) when the bytes are not a readable zip. */
  static open(data: Uint8Array): ZipArchive {
    const entries = readCentralDirectory(data);
    if (entries) return new ZipArchive(data, entries, new Set(entries.keys()));
    const names: string[] = [];
    const sizes = new Map<string, { compressed: number; uncompressed: number }>();
    unzipSync(data, {
      filter: (f) => {
        names.push(f.name);
        sizes.set(f.name, { compressed: f.size, uncompressed: f.originalSize });
        return false;
      },
    });
    return new ZipArchive(data, null, new Set(names), sizes);
  }

  has(name: string): boolean {
    return this.resolve(name) !== undefined;
  }

  /**
   * The entry's stored name: exact, else by case-insensitive match (some Windows tools write
   * `xl/SharedStrings.xml` while the relationships say `sharedStrings.xml`).
   */
  private resolve(name: string): string | undefined {
    if (this.names.has(name)) return name;
    const lower = name.toLowerCase();
    for (const n of this.names) if (n.toLowerCase() === lower) return n;
    return undefined;
  }

  /** The inflated bytes of one entry, or undefined when absent. Throws when it is corrupt. */
  read(part: string): Uint8Array | undefined {
    const name = this.resolve(part);
    if (name === undefined) return undefined;
    if (!this.entries) {
      const size = this.sizes?.get(name);
      const problem = size ? inflationProblem(name, size.compressed, size.uncompressed) : null;
      if (problem) throw new Error(problem);
      return unzipSync(this.data, { filter: (f) => f.name === name })[name];
    }
    const e = this.entries.get(name)!;
    const problem = inflationProblem(name, e.compressedSize, e.uncompressedSize);
    if (problem) throw new Error(problem);
    const d = this.data;
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    if (e.localHeader + 30 > d.length || v.getUint32(e.localHeader, true) !== LOCAL_SIG) {
      throw new Error(`bad local header for ${name}`);
    }
    const start = e.localHeader + 30 + v.getUint16(e.localHeader + 26, true) + v.getUint16(e.localHeader + 28, true);
    const body = d.subarray(start, start + e.compressedSize);
    if (body.length !== e.compressedSize) throw new Error(`${name} is truncated`);
    if (e.method === 0) return body;
    if (e.method === 8) {
      let out: Buffer;
      try {
        out = inflateRawSync(body, { maxOutputLength: Math.max(1, e.uncompressedSize) });
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
          throw new Error(`${name} inflates past its declared ${e.uncompressedSize} bytes (a zip bomb or a corrupt archive)`);
        }
        throw err;
      }
      if (out.length !== e.uncompressedSize) throw new Error(`${name} inflates to ${out.length} bytes, not the ${e.uncompressedSize} declared`);
      return out;
    }
    throw new Error(`${name} uses unsupported compression method ${e.method}`);
  }
}

/** name → entry from the end-of-central-directory record; null for ZIP64 (left to fflate). */
function readCentralDirectory(d: Uint8Array): Map<string, Entry> | null {
  const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
  // The end record is in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = d.length - 22; i >= 0 && i >= d.length - 22 - 0xffff; i--) {
    if (v.getUint32(i, true) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd === -1) throw new Error('no end of central directory record (truncated or not a zip)');
  const count = v.getUint16(eocd + 10, true);
  const size = v.getUint32(eocd + 12, true);
  let p = v.getUint32(eocd + 16, true);
  if (count === 0xffff || size === 0xffffffff || p === 0xffffffff) return null;
  if (p + size > eocd) throw new Error('central directory lies outside the file');
  const names = new TextDecoder('utf-8');
  const out = new Map<string, Entry>();
  for (let n = 0; n < count; n++) {
    if (p + 46 > d.length || v.getUint32(p, true) !== CDIR_SIG) throw new Error('corrupt central directory');
    const method = v.getUint16(p + 10, true);
    const compressedSize = v.getUint32(p + 20, true);
    const uncompressedSize = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    const localHeader = v.getUint32(p + 42, true);
    if (compressedSize === 0xffffffff || uncompressedSize === 0xffffffff || localHeader === 0xffffffff) return null;
    const name = names.decode(d.subarray(p + 46, p + 46 + nameLen)).replace(/\\/g, '/');
    out.set(name, { method, compressedSize, uncompressedSize, localHeader });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** True when the bytes start like a zip (local file header or empty-archive end record). */
export function looksLikeZip(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0x50 && data[1] === 0x4b && (data[2] === 3 || data[2] === 5);
}

/** True for an OLE2 compound file: a legacy .xls, or an encrypted (password-protected) workbook. */
export function looksLikeOle(data: Uint8Array): boolean {
  return data.length >= 8 && data[0] === 0xd0 && data[1] === 0xcf && data[2] === 0x11 && data[3] === 0xe0;
}
