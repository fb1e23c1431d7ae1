/**
 * A valid Kafka record as a StreamItem that holds only what the record carried: its value's bytes,
 * its key and where it came from. `row` and `raw` are decoded from the bytes on each access.
 *
 * Why not a decoded row: the sink keeps every record in flight until its statement is stored
 * (tens of thousands at a time), and a row of 12 strings plus the record as a string is ~750
 * bytes of small objects per record that the collector copies and promotes; the bytes are one
 * Buffer view into the fetched response. The source has validated the record (decodeRecord), so
 * decoding it again cannot fail.
 */
import { TrafficError } from '../../core/errors.ts';
import type { MasterRow } from '../../core/schema.ts';
import { decodeRecord } from '../record.ts';
import type { StreamItem } from './types.ts';

export class KafkaItem implements StreamItem {
  constructor(
    readonly bytes: Buffer,
    readonly key: string | null,
    readonly source: string,
    readonly partition: number,
    readonly offset: string,
  ) {}

  get raw(): string {
    return this.bytes.toString('utf8');
  }

  get row(): MasterRow {
    const d = decodeRecord(this.raw);
    if (!d.ok) throw new TrafficError('BAD_RECORD', `${this.source}[${this.partition}]@${this.offset}: ${d.reason}`);
    return d.row;
  }
}
