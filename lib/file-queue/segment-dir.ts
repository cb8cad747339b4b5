/**
 * The segment files of one queue folder: names, listing, the cache of open read windows, creating and removing
 * segments, and the folder fsyncs. Every call that changes a file goes through {@link io}.
 *
 * @module
 */
import { constants as fsc, existsSync, readdirSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { errnoOf } from '../common/errors.js';
import { io, ioError } from './io.js';

/** Read window per segment. */
export const WINDOW = 64 * 1024;
/** Open read windows kept per folder. */
const MAX_READERS = 8;

/** Exclusive create, appending: every write of every process goes to the end of the file. */
const CREATE_APPEND = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_APPEND;

export const segName = (n: number): string => `seg-${String(n).padStart(10, '0')}.log`;
const SEG_RE = /^seg-(\d{10})\.log$/;

/** An open segment file descriptor that is closed only when no background fsync still uses it. */
export class SegFd {
  refs = 0;
  private retired = false;
  constructor(readonly fd: number) {}
  retire(): void {
    this.retired = true;
    if (this.refs === 0) this.close();
  }
  unref(): void {
    if (--this.refs === 0 && this.retired) this.close();
  }
  private close(): void {
    closeQuietly(this.fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    io.closeSync(fd);
  } catch {
    // already closed
  }
}

/** A read window over one segment file. */
export class SegReader {
  buf: Buffer = Buffer.allocUnsafeSlow(WINDOW);
  start = 0;
  len = 0;
  constructor(readonly fd: number) {}

  /** Makes up to `n` bytes from `off` available at `buf[off - start]`; returns how many there are (less at EOF). */
  fetch(off: number, n: number): number {
    if (off >= this.start && off + n <= this.start + this.len) return n;
    if (n > this.buf.length) this.buf = Buffer.allocUnsafeSlow(n);
    else if (this.buf.length > WINDOW && n <= WINDOW) this.buf = Buffer.allocUnsafeSlow(WINDOW);
    let got = 0;
    while (got < this.buf.length) {
      const r = readSync(this.fd, this.buf, got, this.buf.length - got, off + got);
      if (r === 0) break;
      got += r;
      if (got >= n) break;
    }
    this.start = off;
    this.len = got;
    return Math.min(n, got);
  }

  /** Forgets cached bytes from `off` on (they may change: a torn tail is truncated and rewritten). */
  trim(off: number): void {
    if (off < this.start) this.len = 0;
    else if (off < this.start + this.len) this.len = off - this.start;
  }

  close(): void {
    closeQuietly(this.fd);
  }
}

/** The segment files of a queue folder. */
export class SegmentDir {
  /** Header nonces of the segments seen (tells two incarnations of a segment number apart). */
  readonly nonces = new Map<number, number>();
  private readonly readers = new Map<number, SegReader>();
  private parentSynced = false;

  /** @param pinned - segments whose read window is never evicted (the position's, the head's) */
  constructor(
    readonly dir: string,
    private readonly pinned: (seg: number) => boolean,
  ) {}

  path(seg: number): string {
    return join(this.dir, segName(seg));
  }

  /** The read window of `seg`, opened on first use (throws the open error, e.g. ENOENT). */
  reader(seg: number): SegReader {
    let r = this.readers.get(seg);
    if (r) return r;
    const fd = io.openSync(this.path(seg), 'r');
    r = new SegReader(fd);
    if (this.readers.size >= MAX_READERS) {
      for (const [s, old] of this.readers) {
        if (!this.pinned(s)) {
          old.close();
          this.readers.delete(s);
          break;
        }
      }
    }
    this.readers.set(seg, r);
    return r;
  }

  /** Closes and forgets the descriptor (and nonce) of `seg`: the next look opens the file by name again. */
  forget(seg: number): void {
    this.readers.get(seg)?.close();
    this.readers.delete(seg);
    this.nonces.delete(seg);
  }

  /** Drops every cached window's bytes (another process may have changed the files). */
  invalidate(): void {
    for (const r of this.readers.values()) r.len = 0;
  }

  /** Forgets cached bytes of `seg` from `off` on. */
  trim(seg: number, off: number): void {
    this.readers.get(seg)?.trim(off);
  }

  closeAll(): void {
    for (const r of this.readers.values()) r.close();
    this.readers.clear();
  }

  exists(seg: number): boolean {
    return existsSync(this.path(seg));
  }

  /** Segment numbers in the folder, ascending. */
  list(): number[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      throw ioError(`cannot list queue folder ${this.dir}`, err);
    }
    const out: number[] = [];
    for (const n of names) {
      const m = SEG_RE.exec(n);
      if (m) out.push(Number(m[1]));
    }
    return out.sort((a, b) => a - b);
  }

  /** Deletes a segment file (gone already is fine) and forgets it. */
  remove(seg: number): void {
    try {
      io.unlinkSync(this.path(seg));
    } catch {
      // already gone
    }
    this.forget(seg);
  }

  /** Opens `seg` for appending; never creates it (a segment that is gone must not come back as an empty file). */
  openAppend(seg: number): SegFd {
    try {
      return new SegFd(io.openSync(this.path(seg), fsc.O_WRONLY | fsc.O_APPEND));
    } catch (err) {
      throw ioError(`cannot open queue segment ${this.path(seg)}`, err);
    }
  }

  /** Creates `seg` exclusively; undefined when a file of that name exists. */
  create(seg: number): SegFd | undefined {
    try {
      return new SegFd(io.openSync(this.path(seg), CREATE_APPEND));
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw ioError(`cannot create queue segment ${this.path(seg)}`, err);
      return undefined;
    }
  }

  /** fdatasync of every segment up to `upTo` (the ones deleted meanwhile are skipped). */
  syncSegments(upTo: number): void {
    for (const s of this.list()) {
      if (s > upTo) break;
      let fd: number;
      try {
        fd = io.openSync(this.path(s), 'r');
      } catch {
        continue; // deleted meanwhile
      }
      try {
        io.fdatasyncSync(fd);
      } catch (err) {
        throw ioError(`cannot flush queue segment ${this.path(s)}`, err);
      } finally {
        io.closeSync(fd);
      }
    }
  }

  /** fsync of the folder (or of `dir`). */
  syncDir(dir = this.dir): void {
    try {
      const fd = io.openSync(dir, 'r');
      try {
        io.fsyncSync(fd);
      } finally {
        io.closeSync(fd);
      }
    } catch {
      // Some file systems refuse to fsync a directory; the data files are synced.
    }
  }

  /** The queue folder's own name, once per process (its creator may not have synced it: 'off', or killed). */
  syncParentOnce(): void {
    if (this.parentSynced) return;
    this.syncDir(dirname(this.dir));
    this.parentSynced = true;
  }
}
