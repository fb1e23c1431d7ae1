/** Seeded mutations for the reader fuzz tests (pure functions of a PRNG and bytes). */
import { strToU8 } from 'fflate';

export type Rand = () => number;
export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
export const int = (r: Rand, n: number): number => Math.floor(r() * n);

const STRUCTURAL = [0x22, 0x2c, 0x0a, 0x0d, 0x00, 0x80, 0xff, 0xfe, 0xef, 0xbb, 0xbf, 0xa1, 0x81, 0x3c, 0x3e, 0x26, 0x20, 0x09];

/** One random mutation of a byte string. */
export function mutateBytes(r: Rand, b: Uint8Array): Uint8Array {
  const n = b.length;
  const at = int(r, n + 1);
  switch (int(r, 8)) {
    case 0: {
      // flip a byte
      if (!n) return b;
      const c = Uint8Array.from(b);
      c[Math.min(at, n - 1)] = int(r, 256);
      return c;
    }
    case 1: // insert structural bytes
      return concat(
        b.subarray(0, at),
        Uint8Array.from({ length: 1 + int(r, 4) }, () => pick(r, STRUCTURAL)),
        b.subarray(at),
      );
    case 2: // delete a range
      return concat(b.subarray(0, at), b.subarray(Math.min(n, at + 1 + int(r, 64))));
    case 3: {
      // duplicate a range
      const len = 1 + int(r, 200);
      return concat(b.subarray(0, at), b.subarray(at, at + len), b.subarray(at));
    }
    case 4: // truncate
      return b.subarray(0, at);
    case 5: // a long run of one structural byte
      return concat(b.subarray(0, at), new Uint8Array(500 + int(r, 5000)).fill(pick(r, STRUCTURAL)), b.subarray(at));
    case 6: {
      // several flips
      const c = Uint8Array.from(b);
      for (let k = 0; k < 1 + int(r, 16) && n; k++) c[int(r, n)] = int(r, 256);
      return c;
    }
    default: {
      // swap two halves at a random point
      return concat(b.subarray(at), b.subarray(0, at));
    }
  }
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const MARKUP = [
  '<c r="A',
  '<c r="XFD1048576" t="s"><v>999999</v></c>',
  '</row>',
  '<row r="0">',
  '<row r="99999999">',
  '<v>',
  '</v>',
  '&#',
  '&#x110000;',
  '&amp',
  '_x00',
  '_xD800_',
  '<si>',
  '</si>',
  '<t>',
  '"',
  "'",
  '<is><t>',
  't="e"',
  't="d"',
  's="9999"',
  '<![CDATA[',
  '<!--',
  '<x:c ',
  '\u0000',
  'E+999',
];

export function insertMarkup(r: Rand, b: Uint8Array): Uint8Array {
  const at = int(r, b.length + 1);
  return concat(b.subarray(0, at), strToU8(pick(r, MARKUP)), b.subarray(at));
}
