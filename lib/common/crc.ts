/**
 * CRC-32 (ISO-HDLC, the zlib/PNG polynomial 0xEDB88320). Uses `zlib.crc32` where Node has it (>= 20.15 / 22.2) and a
 * table implementation otherwise; both give identical values.
 *
 * @module
 */
import * as zlib from 'node:zlib';

let TABLE: Int32Array | undefined;

function table(): Int32Array {
  if (TABLE) return TABLE;
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  TABLE = t;
  return t;
}

/** CRC-32 of `buf[start, end)`, continuing from `prev` (0 to start), in JavaScript. */
export function crc32Js(buf: Uint8Array, start = 0, end = buf.length, prev = 0): number {
  const t = table();
  let c = ~prev;
  for (let i = start; i < end; i++) c = t[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `buf[start, end)`, continuing from `prev`; native when available (faster for long inputs). */
export function crc32(buf: Uint8Array, start = 0, end = buf.length, prev = 0): number {
  if (native === undefined || end - start < 64) return crc32Js(buf, start, end, prev);
  return native(start === 0 && end === buf.length ? buf : buf.subarray(start, end), prev) >>> 0;
}
