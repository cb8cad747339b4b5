/**
 * The checkpoint file: a hint that saves replaying the log (docs/format.md, "Checkpoint file"). Anything wrong with
 * it means a rebuild from the segments.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from './records.js';
import { io, ioError } from './io.js';
import type { LogReader } from './log-reader.js';
import type { SegmentDir } from './segment-dir.js';

/** The `checkpoint` file of a queue folder. */
export class CheckpointFile {
  private readonly path: string;

  constructor(
    private readonly segs: SegmentDir,
    private readonly log: LogReader,
  ) {
    this.path = join(segs.dir, 'checkpoint');
  }

  /** The checkpoint if it holds for the segments `segs` (Recovery, step 2), else undefined. */
  read(segs: number[], unique: boolean): Checkpoint | undefined {
    let raw: Buffer;
    try {
      raw = readFileSync(this.path);
    } catch {
      return undefined;
    }
    const ck = decodeCheckpoint(raw);
    if (!ck || !segs.includes(ck.seg)) return undefined;
    if ((ck.hashes !== undefined) !== unique) return undefined;
    const b = this.log.born(ck.seg);
    if (typeof b !== 'object' || b.nonce !== ck.nonce) return undefined;
    const res = this.log.readRec(ck.seg, ck.lastStart);
    if (res.k !== 'ok' || res.end !== ck.pos || res.crc !== ck.lastCrc) return undefined;
    // Every segment from the checkpoint's on must still be there to replay.
    const from = segs.indexOf(ck.seg);
    for (let i = from + 1; i < segs.length; i++) if (segs[i] !== segs[i - 1]! + 1) return undefined;
    return ck;
  }

  /**
   * Writes `c`: temp file, fsync, rename, folder fsync (the fsyncs only when `durable`). The caller has checked its
   * token and flushed the current segment first.
   */
  write(c: Checkpoint, durable: boolean): void {
    const buf = encodeCheckpoint(c);
    const tmp = join(this.segs.dir, `checkpoint.${process.pid}.${threadId}.tmp`);
    try {
      const fd = io.openSync(tmp, 'w');
      try {
        let done = 0;
        while (done < buf.length) done += io.writeSync(fd, buf, done, buf.length - done);
        if (durable) io.fsyncSync(fd);
      } finally {
        io.closeSync(fd);
      }
      io.renameSync(tmp, this.path);
    } catch (err) {
      try {
        io.unlinkSync(tmp);
      } catch {
        // nothing to clean
      }
      throw ioError(`cannot write the checkpoint of ${this.segs.dir}`, err);
    }
    if (durable) this.segs.syncDir();
  }
}
