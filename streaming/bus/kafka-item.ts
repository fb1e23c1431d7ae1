/**
 * A valid Kafka record as a StreamItem that holds only what the record carried: its value's bytes,
 * its key and where it came from. `row` and `raw` are decoded from the bytes on each access.
 *
 * Why not a decoded row: the sink keeps every record in flight until its statement is stored
 * (tens of thousands at a time), and a row of 12 strings plus the record as a string is ~750
 * bytes of small objects per record that the collector copies and promotes; the bytes are one
 * Buffer view into the fetched response. The source has validated the record (decodeRecord), so
 * decoding it again cannot fail; the row it decoded then serves the first read.
 */
import { TrafficError } from '../../core/errors.ts';
import type { MasterRow } from '../../core/schema.ts';
import { decodeRecord } from '../record.ts';
import type { StreamItem } from './types.ts';

export class KafkaItem implements StreamItem {
  /** The row the source decoded to validate the record, handed out by the first `row` read only. */
  private first: MasterRow | undefined;

  constructor(
    readonly bytes: Buffer,
    readonly key: string | null,
    readonly source: string,
    readonly partition: number,
    readonly offset: string,
    validated?: MasterRow,
  ) {
    this.first = validated;
  }

  get raw(): string {
    return this.bytes.toString('utf8');
  }

  get row(): MasterRow {
    // The consumer's first read (the handler's, right after the source decoded the record) takes
    // the source's row instead of decoding again; the item then holds only the bytes.
    const first = this.first;
    if (first) {
      this.first = undefined;
      return first;
    }
    const d = decodeRecord(this.raw);
    if (!d.ok) throw new TrafficError('BAD_RECORD', `${this.source}[${this.partition}]@${this.offset}: ${d.reason}`);
    return d.row;
  }
}
