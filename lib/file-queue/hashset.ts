/**
 * The set of waiting items of a unique queue: 64-bit hashes of their encoded bytes in an open-addressing hash set on
 * a typed array (8 bytes a slot, at most 2 slots per item: about 16 bytes per waiting item, no per-item objects).
 *
 * @module
 */

/** Two independent 32-bit MurmurHash3 (x86_32) values of `data`: the 64-bit item hash. */
export function hash64(data: Uint8Array): { h1: number; h2: number } {
  let h1 = murmur(data, 0x9747b28c);
  let h2 = murmur(data, 0x5bd1e995 ^ data.length);
  if (h1 === 0 && h2 === 0) h2 = 1; // (0, 0) marks an empty slot
  return { h1: h1 >>> 0, h2: h2 >>> 0 };
}

function murmur(key: Uint8Array, seed: number): number {
  const len = key.length;
  const blocks = len & ~3;
  let h = seed | 0;
  for (let i = 0; i < blocks; i += 4) {
    let k = key[i]! | (key[i + 1]! << 8) | (key[i + 2]! << 16) | (key[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= key[blocks + 2]! << 16;
    if (rest >= 2) k ^= key[blocks + 1]! << 8;
    k ^= key[blocks]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A set of (h1, h2) pairs, never (0, 0). Linear probing with backward-shift deletion. */
export class HashSet64 {
  private keys: Uint32Array;
  private mask: number;
  size = 0;

  constructor(capacity = 16) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.keys = new Uint32Array(cap * 2);
    this.mask = cap - 1;
  }

  private slot(h1: number, h2: number): number {
    let i = (h1 ^ Math.imul(h2, 0x9e3779b1)) & this.mask;
    const k = this.keys;
    for (;;) {
      const a = k[i * 2]!;
      const b = k[i * 2 + 1]!;
      if ((a === 0 && b === 0) || (a === h1 && b === h2)) return i;
      i = (i + 1) & this.mask;
    }
  }

  has(h1: number, h2: number): boolean {
    if (h1 === 0 && h2 === 0) return false; // (0, 0) marks an empty slot; a TAKE of a skipped corrupt item carries it
    const i = this.slot(h1, h2);
    return this.keys[i * 2] === h1 && this.keys[i * 2 + 1] === h2;
  }

  /** Adds; false when already present. */
  add(h1: number, h2: number): boolean {
    if ((this.size + 1) * 10 > (this.mask + 1) * 7) this.grow();
    const i = this.slot(h1, h2);
    if (this.keys[i * 2] === h1 && this.keys[i * 2 + 1] === h2) return false;
    this.keys[i * 2] = h1;
    this.keys[i * 2 + 1] = h2;
    this.size++;
    return true;
  }

  /** Removes; false when absent. */
  delete(h1: number, h2: number): boolean {
    if (h1 === 0 && h2 === 0) return false; // never a member: without this check an empty slot was "deleted" (size - 1)
    const k = this.keys;
    let i = this.slot(h1, h2);
    if (k[i * 2] !== h1 || k[i * 2 + 1] !== h2) return false;
    // Backward-shift deletion keeps every probe chain unbroken without tombstones.
    let j = i;
    for (;;) {
      j = (j + 1) & this.mask;
      const a = k[j * 2]!;
      const b = k[j * 2 + 1]!;
      if (a === 0 && b === 0) break;
      const home = (a ^ Math.imul(b, 0x9e3779b1)) & this.mask;
      // Move j into i if its home is not in the cyclic range (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        k[i * 2] = a;
        k[i * 2 + 1] = b;
        i = j;
      }
    }
    k[i * 2] = 0;
    k[i * 2 + 1] = 0;
    this.size--;
    return true;
  }

  private grow(): void {
    const old = this.keys;
    this.keys = new Uint32Array(old.length * 2);
    this.mask = this.keys.length / 2 - 1;
    this.size = 0;
    for (let i = 0; i < old.length; i += 2) {
      if (old[i] !== 0 || old[i + 1] !== 0) this.add(old[i]!, old[i + 1]!);
    }
  }

  /** The members as (h1, h2) pairs. */
  toArray(): Uint32Array {
    const out = new Uint32Array(this.size * 2);
    let o = 0;
    const k = this.keys;
    for (let i = 0; i < k.length; i += 2) {
      if (k[i] !== 0 || k[i + 1] !== 0) {
        out[o++] = k[i]!;
        out[o++] = k[i + 1]!;
      }
    }
    return out;
  }

  static from(pairs: Uint32Array): HashSet64 {
    const s = new HashSet64(pairs.length / 2);
    for (let i = 0; i < pairs.length; i += 2) s.add(pairs[i]!, pairs[i + 1]!);
    return s;
  }

  clear(): void {
    this.keys = new Uint32Array(32);
    this.mask = 15;
    this.size = 0;
  }
}
