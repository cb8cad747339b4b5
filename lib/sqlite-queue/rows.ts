/**
 * Reading stored rows of the SQLite queues: the CRC-32 check (`pq_crc`), decoding, and what `skipCorrupt` does with
 * a row that fails either. Errors name the row and carry its id.
 *
 * @module
 */
import { crc32 } from '../common/crc.js';
import { QueueCorruptError, SerializationError } from '../common/errors.js';
import { decodeError, type Codec } from '../common/serializer.js';

/** Returned by {@link RowReader.take} for a row that `skipCorrupt` drops. */
export const SKIP: unique symbol = Symbol('persist-queue.skip');
/** The type of {@link SKIP}. */
export type Skip = typeof SKIP;

/** The columns of a stored row that reading it needs. */
export interface StoredRow {
  _id: number;
  data: Buffer;
  pq_crc?: number | null;
}

/** Checks and decodes the rows of one table. */
export class RowReader<T> {
  /** Rows dropped because of `skipCorrupt` (damaged, or refused by the serializer). */
  skipped = 0;

  constructor(
    private readonly codec: Codec<T>,
    private readonly skipCorrupt: boolean,
    private readonly table: string,
    private readonly file: string,
  ) {}

  /** Why a stored row cannot be trusted, or undefined when it is intact (rows Python wrote have no checksum). */
  damage(row: StoredRow): string | undefined {
    if (!Buffer.isBuffer(row.data)) return 'is not a BLOB';
    if (row.pq_crc != null && crc32(row.data) !== row.pq_crc) return 'failed its checksum';
    return undefined;
  }

  /**
   * For a get: the row's item, checked and decoded; {@link SKIP} when it is damaged or cannot be decoded and
   * `skipCorrupt` is set (counted: the caller drops the row, or marks it failed); else throws
   * {@link QueueCorruptError} or {@link SerializationError} with the row's id, so that the caller rolls back and
   * the row stays where it was.
   */
  take(row: StoredRow): T | Skip {
    const why = this.damage(row);
    if (why !== undefined) {
      if (!this.skipCorrupt) throw this.corruptError(row, why);
      this.skipped++;
      return SKIP;
    }
    try {
      return this.codec.decode(row.data);
    } catch (cause) {
      if (!this.skipCorrupt) throw this.decodeError(row, cause);
      this.skipped++;
      return SKIP;
    }
  }

  /** Checks a row and decodes it; damage is a QueueCorruptError, bytes the serializer refuses a SerializationError. */
  decode(row: StoredRow): T {
    const why = this.damage(row);
    if (why !== undefined) throw this.corruptError(row, why);
    try {
      return this.codec.decode(row.data);
    } catch (cause) {
      throw this.decodeError(row, cause);
    }
  }

  /** What a row holds, or the error that reading it gives (for `items()`, which reports bad rows one by one). */
  tryDecode(row: StoredRow): { data: T } | { error: QueueCorruptError | SerializationError } {
    try {
      return { data: this.decode(row) };
    } catch (err) {
      if (err instanceof QueueCorruptError || err instanceof SerializationError) return { error: err };
      throw err;
    }
  }

  /** The first readable row of `rows` decoded (peek; with `skipCorrupt` unreadable rows are passed over), or undefined. */
  first(rows: StoredRow[]): T | undefined {
    for (const row of rows) {
      if (!this.skipCorrupt) return this.decode(row);
      if (this.damage(row) !== undefined) continue;
      try {
        return this.codec.decode(row.data);
      } catch {
        // skipCorrupt: a get will drop it; peek shows the next one
      }
    }
    return undefined;
  }

  private corruptError(row: StoredRow, why: string): QueueCorruptError {
    return new QueueCorruptError(`stored item ${this.table}#${row._id} in ${this.file} ${why}`, { id: row._id });
  }

  private decodeError(row: StoredRow, cause: unknown): SerializationError {
    return decodeError(this.codec as Codec<unknown>, `${this.table}#${row._id}`, cause, row._id);
  }
}
