// qlobber-fsq: a file-system queue (one file per message, pub/sub with work-queue
// "single" messages, which need the optional fs-ext addon for flock).
// put = publish(topic, JSON, {single: true}) resolved when the message is in its
// bucket; get = the next message handed to the subscriber, which is then acknowledged
// (its callback) so the file is deleted. Subscribed on the first get(). Delivery order
// is not FIFO (messages are spread over hashed buckets).
// Durability: 'normal' = its default (no fsync at all: survives a killed process, not
// power loss); 'full' = flags O_SYNC on its file writes (renames are not fsynced, so
// still weaker than the library's 'full').
import fs from 'node:fs';
import path from 'node:path';
import { checkPeer, peerVersion, PullBuffer, requirePeer } from './peers-common.mjs';

export async function listSystems() {
  const skip = await checkPeer('qlobber-fsq', () => {
    requirePeer('qlobber-fsq');
    requirePeer('fs-ext');
  });
  return ['normal', 'full'].map((durability) => ({
    id: `qlobber-fsq/${durability}`,
    module: 'qlobber-fsq',
    label: `qlobber-fsq ${peerVersion('qlobber-fsq') ?? ''} (${durability === 'full' ? 'O_SYNC writes' : 'default'})`,
    kind: 'peer',
    backend: 'file',
    durability,
    durabilityNote:
      durability === 'full'
        ? 'message files written with O_SYNC (bench setting); renames/dirs not fsynced'
        : 'default: no fsync (page cache only)',
    promise: true,
    multiProcess: false,
    skip,
    version: peerVersion('qlobber-fsq'),
  }));
}

export async function openSystem(sys, dir) {
  const { QlobberFSQ } = requirePeer('qlobber-fsq');
  const opts = { fsq_dir: path.join(dir, 'fsq'), poll_interval: 20 };
  if (sys.durability === 'full') opts.flags = fs.constants.O_SYNC;
  const fsq = new QlobberFSQ(opts);
  await new Promise((resolve, reject) => {
    fsq.once('start', resolve);
    fsq.once('error', reject);
  });
  fsq.on('error', () => {});
  const buf = new PullBuffer();
  let subscribed = false;
  const handler = (data, info, cb) => buf.push(JSON.parse(data.toString('utf8')), () => cb());
  const sub = () => {
    if (!subscribed) {
      subscribed = true;
      fsq.subscribe('bench', handler);
    }
  };
  return {
    sync: false,
    put: (item) =>
      new Promise((resolve, reject) =>
        fsq.publish('bench', JSON.stringify(item), { single: true }, (err) => (err ? reject(err) : resolve())),
      ),
    get() {
      sub();
      return buf.take();
    },
    tryGet(waitMs) {
      sub();
      return buf.take(waitMs);
    },
    close: () =>
      new Promise((resolve) => {
        fsq.stop_watching(() => resolve());
      }),
  };
}
