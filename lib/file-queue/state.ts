/**
 * The in-memory state of a queue and its one transition function. Pure: no I/O. The writer and every reader apply
 * the same records the same way (docs/format.md, "Meaning: the state is a replay of the log"), so every process
 * derives the same state from the same log.
 *
 * @module
 */
import { emptyState, NONE, T_DONE, T_END, T_FLAG, T_PUT, T_RETURN, T_STATE, T_TAKE, type Rec, type Slot, type State } from './format.js';
import { HashSet64 } from './hashset.js';

/** Counts, order, held items and (unique queues) the hash set of the waiting items. */
export class QueueState {
  st: State = emptyState();
  /** Hashes of the waiting items; only for unique queues. */
  set: HashSet64 | undefined;
  /** Segments whose last live item went away (deletion candidates; the lock holder decides and empties this). */
  readonly emptied = new Set<number>();

  constructor(
    public order: 'fifo' | 'filo',
    unique: boolean,
  ) {
    this.set = unique ? new HashSet64() : undefined;
  }

  get unique(): boolean {
    return this.set !== undefined;
  }

  /** Waiting items: main list plus returned ones. */
  get size(): number {
    return this.st.main + this.st.returned.length;
  }

  /** Switches to the order and uniqueness a folder was created with (before anything is applied). */
  adopt(order: 'fifo' | 'filo', unique: boolean): void {
    if (order === this.order && unique === this.unique) return;
    this.order = order;
    this.set = unique ? new HashSet64() : undefined;
  }

  /** Starts over from `st` (a snapshot); the hash set from `hashes`, or empty (to be rebuilt). */
  reset(st: State = emptyState(), hashes?: Uint32Array): void {
    this.st = st;
    if (this.set) this.set = hashes ? HashSet64.from(hashes) : new HashSet64();
  }

  /** A PUT of item `id` at (seg, off). */
  applyPut(id: number, seg: number, off: number, h1: number, h2: number): void {
    const st = this.st;
    if (id >= st.nextId) st.nextId = id + 1;
    st.segCount.set(seg, (st.segCount.get(seg) ?? 0) + 1);
    if (this.set) this.set.add(h1, h2);
    if (this.order === 'filo' || st.main === 0) {
      st.headSeg = seg;
      st.headOff = off;
    }
    st.main++;
  }

  /** Applies one record found (or written) at (seg, off). */
  apply(rec: Rec, seg: number, off: number): void {
    const st = this.st;
    switch (rec.t) {
      case T_PUT:
        this.applyPut(rec.id, seg, off, rec.h1, rec.h2);
        return;
      case T_TAKE: {
        const taken = rec.nRet > 0 ? st.returned.splice(0, rec.nRet) : [];
        st.main = Math.max(0, st.main - rec.main.length);
        st.headSeg = st.main === 0 ? NONE : rec.headSeg;
        st.headOff = st.main === 0 ? NONE : rec.headOff;
        if (st.headSeg === NONE) st.main = 0;
        if (this.set) {
          for (const s of taken) this.set.delete(s.h1, s.h2);
          for (const s of rec.main) this.set.delete(s.h1, s.h2);
        }
        if (rec.owner !== null) {
          let list = st.held.get(rec.owner);
          if (!list) st.held.set(rec.owner, (list = []));
          for (const s of taken) list.push(s);
          for (const s of rec.main) list.push(s);
        } else {
          for (const s of taken) this.release(s);
          for (const s of rec.main) this.release(s);
        }
        return;
      }
      case T_DONE: {
        const list = st.held.get(rec.owner);
        if (!list) return;
        for (const s of list.splice(0, rec.count)) this.release(s);
        if (list.length === 0) st.held.delete(rec.owner);
        return;
      }
      case T_RETURN: {
        const list = st.held.get(rec.owner);
        if (!list) return;
        st.held.delete(rec.owner);
        for (const s of list) {
          if (this.set && !this.set.add(s.h1, s.h2)) this.release(s); // an equal item is waiting already
          else st.returned.push(s);
        }
        return;
      }
      case T_FLAG:
        if (rec.on) st.pending.add(rec.owner);
        else st.pending.delete(rec.owner);
        return;
      case T_STATE:
      case T_END:
        return;
    }
  }

  /** One live item of a segment is gone. */
  private release(slot: Slot): void {
    const n = (this.st.segCount.get(slot.seg) ?? 0) - 1;
    if (n > 0) this.st.segCount.set(slot.seg, n);
    else {
      this.st.segCount.delete(slot.seg);
      this.emptied.add(slot.seg);
    }
  }
}
