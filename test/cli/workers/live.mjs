// A live producer or consumer beside the CLI: node live.mjs <sqlite|file> <path> <produce|consume>.
// Puts (or takes) small batches until killed; prints "ready" after its first batch.
import { FileQueueSync } from '../../../dist/esm/file.js';
import { SqliteQueueSync } from '../../../dist/esm/sqlite.js';

const [backend, path, role] = process.argv.slice(2);
const q = backend === 'sqlite' ? SqliteQueueSync.open(path, { durability: 'normal' }) : FileQueueSync.open(path, { durability: 'normal' });
let n = 0;
let said = false;
const step = () => {
  if (role === 'produce') q.putMany(Array.from({ length: 5 }, () => ({ n: n++, pad: 'x'.repeat(40) })));
  else {
    try {
      q.getMany(3, { block: false });
    } catch (e) {
      if (e.code !== 'ERR_QUEUE_EMPTY') throw e;
    }
  }
  if (!said) (said = true), process.stdout.write('ready\n');
  setTimeout(step, 3);
};
step();
