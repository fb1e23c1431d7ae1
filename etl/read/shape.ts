/**
 * From source fields to contract order. Exports normally hold the 8 columns in contract order and
 * nothing else: then fields pass through untouched (stage 01 checks their count). When the header
 * names the columns in another order, or has extra columns, fields are picked by the header's
 * positions; a record whose width differs from the header's cannot be mapped safely, so it keeps
 * its source fields and gets an error instead of being silently misaligned.
 */
import { isIdentity } from './header.ts';

export interface FieldMap {
  positions: readonly number[];
  headerWidth: number;
  identity: boolean;
}

export function fieldMap(positions: readonly number[], headerWidth: number): FieldMap {
  return { positions, headerWidth, identity: isIdentity(positions, headerWidth) };
}

/** Contract-order fields, or the source fields and an error. */
export function shapeFields(src: string[], map: FieldMap): { fields: string[]; error?: string } {
  if (map.identity) return { fields: src };
  if (src.length !== map.headerWidth) {
    return {
      fields: src,
      error: `${src.length} fields where the header has ${map.headerWidth}: columns cannot be mapped by name`,
    };
  }
  return { fields: map.positions.map((p) => src[p] ?? '') };
}

export function joinErrors(a: string | undefined, b: string | undefined): string | undefined {
  return a === undefined ? b : b === undefined ? a : `${a}; ${b}`;
}
