// Raw ceiling for the file backend: fs.writeSync of framed records appended to one
// file — 4-byte length + 4-byte crc32 + 1 type byte + 8-byte id + payload (the JSON
// bytes) — with an fsync after each write ('full') or none ('normal' / 'off').
// "get" reads the records back in order and checks the crc (a read ceiling: it writes
// no consumer offset, so it is not a durable removal).
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const HEADER = 17;

let TABLE;
function crc32Table(buf) {
  if (!TABLE) {
    TABLE = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      TABLE[n] = c;
    }
  }
  let c = -1;
  for (let i = 0; i < buf.length; i++) c = TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
export const crc32 = typeof zlib.crc32 === 'function' ? (b) => zlib.crc32(b) : crc32Table;

/** One record as the raw ceiling writes it: header (length, crc32, type, id) and the item's JSON. */
export function frame(id, item) {
  const payload = Buffer.from(JSON.stringify(item));
  const buf = Buffer.allocUnsafe(HEADER + payload.length);
  buf.writeUInt32LE(payload.length, 0);
  buf.writeUInt8(1, 8);
  buf.writeBigUInt64LE(BigInt(id), 9);
  payload.copy(buf, HEADER);
  buf.writeUInt32LE(crc32(buf.subarray(8)), 4);
  return buf;
}

function open(dir, durability) {
  const file = path.join(dir, 'raw.log');
  const wfd = fs.openSync(file, 'a');
  const rfd = fs.openSync(file, 'r');
  const fsync = durability === 'full';
  let nextId = 1;
  let readPos = 0;
  const head = Buffer.alloc(HEADER);
  const readOne = () => {
    if (fs.readSync(rfd, head, 0, HEADER, readPos) < HEADER) return undefined;
    const len = head.readUInt32LE(0);
    const body = Buffer.allocUnsafe(len);
    fs.readSync(rfd, body, 0, len, readPos + HEADER);
    const c = crc32(Buffer.concat([head.subarray(8), body]));
    if (c !== head.readUInt32LE(4)) throw new Error('raw-fs: crc mismatch');
    readPos += HEADER + len;
    return JSON.parse(body.toString('utf8'));
  };
  return {
    sync: true,
    put(item) {
      fs.writeSync(wfd, frame(nextId++, item));
      if (fsync) fs.fsyncSync(wfd);
    },
    get: readOne,
    putMany(items) {
      fs.writeSync(wfd, Buffer.concat(items.map((it) => frame(nextId++, it))));
      if (fsync) fs.fsyncSync(wfd);
    },
    getMany(max) {
      const out = [];
      for (let i = 0; i < max; i++) {
        const x = readOne();
        if (x === undefined) break;
        out.push(x);
      }
      return out;
    },
    close() {
      fs.closeSync(wfd);
      fs.closeSync(rfd);
    },
  };
}

export async function listSystems() {
  return [
    ['full', 'fsync after each write'],
    ['normal', 'no fsync (page cache)'],
  ].map(([durability, note]) => ({
    id: `raw-fs/${durability}`,
    module: 'raw-fs',
    label: `fs.writeSync raw (${note})`,
    kind: 'raw',
    backend: 'file',
    durability,
    durabilityNote: `${note}; get = sequential read + crc check, no consumer offset written`,
    promise: false,
    multiProcess: false,
    skip: null,
  }));
}

export async function openSystem(sys, dir) {
  return open(dir, sys.durability);
}
