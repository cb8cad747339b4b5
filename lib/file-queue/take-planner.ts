/**
 * Planning what a get takes (returned items first, then the main list from its head) and what a peek sees, reading
 * each item's PUT record; dropping a damaged item at the front when damage is skipped. Holder only, except
 * {@link TakePlanner.peekData}.
 *
 * @module
 */
import { QueueCorruptError } from '../common/errors.js';
import { NONE, T_PUT, T_TAKE, type Rec, type Slot, type TakeRec } from './format.js';
import { BadBody, decodeBody } from './records.js';
import type { LogReader, Reporter } from './log-reader.js';
import type { LogPosition } from './position.js';
import type { QueueState } from './state.js';

/** Returned by a `planTake` decoder for an intact item that the serializer refuses (with skipCorrupt). */
export const UNDECODABLE: unique symbol = Symbol('persist-queue.undecodable');
/** The type of {@link UNDECODABLE}. */
export type Undecodable = typeof UNDECODABLE;

/** What a get will take, before it is committed. */
export interface TakePlan<G> {
  items: G[];
  nRet: number;
  main: Slot[];
  headSeg: number;
  headOff: number;
}

/** Plans takes over the state and the log. */
export class TakePlanner {
  constructor(
    private readonly state: QueueState,
    private readonly pos: LogPosition,
    private readonly log: LogReader,
    private readonly report: Reporter,
    private readonly write: (recs: Rec[]) => void,
  ) {}

  /**
   * Plans a take of up to `max` items (returned items first, then the main list), decoding each with `decode`. A
   * damaged item at the front is skipped (and its removal written) when the reporter skips damage, else it throws.
   * `decode` returns {@link UNDECODABLE} for an intact item the serializer refuses (with skipCorrupt; else it
   * throws): at the front such an item is taken and dropped (its removal written), after other items the plan stops
   * before it.
   */
  planTake<G>(max: number, decode: (bytes: Buffer, where: string, id: number) => G | Undecodable): TakePlan<G> | undefined {
    for (;;) {
      const st = this.state.st;
      if (this.state.size === 0) return undefined;
      const items: G[] = [];
      let nRet = 0;
      const main: Slot[] = [];
      let hs = st.headSeg;
      let ho = st.headOff;
      let left = st.main;
      let dropped = false;
      let stop = false;
      while (items.length < max && nRet < st.returned.length) {
        const s = st.returned[nRet]!;
        const v = this.log.readPut(s.seg, s.off);
        if (v === undefined) {
          if (items.length > 0) break;
          this.report.skipped(s.seg, s.off);
          this.write([{ t: T_TAKE, owner: null, headSeg: hs, headOff: ho, nRet: 1, main: [] }]);
          dropped = true;
          break;
        }
        const item = decode(v.data, `${s.seg}:${s.off}`, v.id);
        if (item === UNDECODABLE) {
          if (items.length === 0) {
            this.write([{ t: T_TAKE, owner: null, headSeg: hs, headOff: ho, nRet: 1, main: [] }]);
            dropped = true;
          }
          stop = true;
          break;
        }
        items.push(item);
        nRet++;
      }
      if (dropped) continue;
      while (!stop && items.length < max && left > 0) {
        const v = this.log.readPut(hs, ho);
        if (v === undefined) {
          if (items.length > 0) break;
          this.dropCorruptHead(hs, ho);
          dropped = true;
          break;
        }
        const item = decode(v.data, `${hs}:${ho}`, v.id);
        if (item === UNDECODABLE) {
          if (items.length === 0) {
            this.removeFront();
            dropped = true;
          }
          break;
        }
        items.push(item);
        main.push({ seg: hs, off: ho, h1: v.h1, h2: v.h2 });
        left--;
        if (left === 0) {
          hs = NONE;
          ho = NONE;
        } else if (this.state.order === 'filo') {
          hs = v.prevSeg;
          ho = v.prevOff;
          if (hs === NONE) {
            left = 0;
            ho = NONE;
            st.main = main.length; // the bottom of the stack with items still counted (a skipped item); trust the log
          }
        } else {
          const next = this.scanPut(hs, v.end);
          if (next === undefined) {
            left = 0;
            hs = NONE;
            ho = NONE;
            st.main = main.length; // the count was off (a skipped corrupt record); trust the log
          } else {
            hs = next.seg;
            ho = next.off;
          }
        }
      }
      if (dropped) continue;
      if (items.length === 0) return undefined;
      return { items, nRet, main, headSeg: hs, headOff: ho };
    }
  }

  /** The TAKE record of a planned take. */
  takeRecord(plan: TakePlan<unknown>, owner: string | null): TakeRec {
    return { t: T_TAKE, owner, headSeg: plan.headSeg, headOff: plan.headOff, nRet: plan.nRet, main: plan.main };
  }

  /** Takes the front item and drops it (its removal written). */
  removeFront(): void {
    const raw = this.planTake(1, (b) => b);
    if (raw) this.write([this.takeRecord(raw, null)]);
  }

  /** The id of the next item (lock-free or holder); undefined when empty or when its record is damaged. */
  frontId(): number | undefined {
    if (this.state.size === 0) return undefined;
    const st = this.state.st;
    const s = st.returned[0];
    try {
      return this.log.readPut(s ? s.seg : st.headSeg, s ? s.off : st.headOff)?.id;
    } catch {
      return undefined;
    }
  }

  /** Removes the (damaged, skipped) item at the front. */
  dropFront(): void {
    const st = this.state.st;
    if (st.returned.length > 0) {
      this.report.skipped(st.returned[0]!.seg, st.returned[0]!.off);
      this.write([{ t: T_TAKE, owner: null, headSeg: st.headSeg, headOff: st.headOff, nRet: 1, main: [] }]);
    } else if (st.main > 0) {
      this.dropCorruptHead(st.headSeg, st.headOff);
    }
  }

  /** The next item without taking it (lock-free or holder); undefined when empty; 'corrupt' when damage is skipped. */
  peekData(): { data: Buffer; where: string; id: number } | 'corrupt' | undefined {
    if (this.state.size === 0) return undefined;
    const st = this.state.st;
    const s = st.returned[0];
    const seg = s ? s.seg : st.headSeg;
    const off = s ? s.off : st.headOff;
    const v = this.log.readPut(seg, off);
    if (v === undefined) return 'corrupt';
    return { data: v.data, where: `${seg}:${off}`, id: v.id };
  }

  /** Drops the damaged item at the head of the main list, writing its removal. */
  private dropCorruptHead(seg: number, off: number): void {
    // An item that the replay building this state skipped was never counted (its PUT was not applied): its removal
    // must not count it again.
    const gone = this.report.wasSkipped(seg, off) ? [] : [{ seg, off, h1: 0, h2: 0 }];
    this.report.skipped(seg, off);
    let headSeg = NONE;
    let headOff = NONE;
    if (this.state.order === 'filo') {
      // The link to the items below went down with the record: the item below is found from the log before it
      // (undefined: not known, the items below cannot be reached any more).
      const below = this.state.st.main > gone.length ? this.below(seg, off) : null;
      if (below) {
        headSeg = below.seg;
        headOff = below.off;
      }
      this.write([{ t: T_TAKE, owner: null, headSeg, headOff, nRet: 0, main: gone }]);
      if (headSeg === NONE) this.state.st.main = 0;
      return;
    }
    if (this.state.st.main > 1) {
      const res = this.log.readRec(seg, off);
      // After a corrupt record: the next valid one. After a record that is gone (missing segment, cut short): scanPut
      // goes on to the next segment. After a record that does not parse: the next record.
      const next = res.k === 'corrupt' ? this.log.afterDamage(seg, off, res) : res.k === 'ok' ? res.end : off;
      const p = next === undefined ? undefined : this.scanPut(seg, next);
      if (p) {
        headSeg = p.seg;
        headOff = p.off;
      }
    }
    this.write([{ t: T_TAKE, owner: null, headSeg, headOff, nRet: 0, main: [{ seg, off, h1: 0, h2: 0 }] }]);
    if (headSeg === NONE) this.state.st.main = 0;
  }

  /**
   * FILO: the item below the item at (seg, off), without reading that item's (damaged) record: the top of the stack
   * just before it was put. It starts from the STATE record of the item's segment and follows how each record between
   * that and the item moved the top: a PUT (intact or damaged, if its header still says PUT) becomes the top, a TAKE
   * names the new top, other records leave it. `null`: the stack was empty. `undefined`: not known (the
   * segment or its STATE record is gone or damaged, or a record between that could have moved the top is damaged or
   * gone: a TAKE, a record whose type is unreadable, a cut-short segment).
   */
  private below(seg: number, off: number): { seg: number; off: number } | null | undefined {
    let b: ReturnType<LogReader['born']>;
    try {
      b = this.log.born(seg);
    } catch (err) {
      if (err instanceof QueueCorruptError) return undefined;
      throw err;
    }
    if (typeof b !== 'object') return undefined;
    let top = b.state.main === 0 || b.state.headSeg === NONE ? null : { seg: b.state.headSeg, off: b.state.headOff };
    let at = b.end;
    while (at < off) {
      const res = this.log.readRec(seg, at);
      if (res.k === 'corrupt' && res.type === T_PUT && res.next !== undefined) {
        // A damaged item was put here: it is the top (the get that reaches it drops it in turn).
        top = { seg, off: at };
        at = res.next;
        continue;
      }
      if (res.k !== 'ok') return undefined;
      let rec: Rec;
      try {
        rec = decodeBody(res.type, res.flags, res.body);
      } catch (err) {
        if (!(err instanceof BadBody)) throw err;
        if (res.type !== T_PUT) return undefined;
        top = { seg, off: at };
        at = res.end;
        continue;
      }
      if (rec.t === T_PUT) top = { seg, off: at };
      else if (rec.t === T_TAKE) top = rec.headSeg === NONE ? null : { seg: rec.headSeg, off: rec.headOff };
      at = res.end;
    }
    // The records must lead exactly to the item (not past it).
    return at === off ? top : undefined;
  }

  private scanPut(seg: number, off: number): { seg: number; off: number } | undefined {
    return this.log.scanPut(seg, off, this.pos, (s) => this.state.st.segCount.has(s));
  }
}
