// The two item shapes every workload puts: a ~120-byte JSON object and a 4 KiB one
// (sizes are of JSON.stringify(item), the bytes a JSON queue stores).
const SMALL = {
  seq: 0,
  ts: 1732460000000,
  user: 'user-48213',
  event: 'page_view',
  path: '/shop/item/7731',
};

function pad(template, target) {
  const base = { ...template, pad: '' };
  // seq grows to 6 digits at N=100k; size the pad for a 6-digit seq.
  const len = JSON.stringify({ ...base, seq: 123456 }).length;
  return { ...template, pad: 'x'.repeat(Math.max(0, target - len)) };
}

export const ITEM_SIZES = {
  '120B': pad(SMALL, 120),
  '4KiB': pad({ ...SMALL, event: 'blob' }, 4096),
  '1KiB': pad({ ...SMALL, event: 'blob' }, 1024),
};

/** A fresh object per put (queues may keep a reference), differing by seq. */
export function makeItem(size, seq) {
  const t = ITEM_SIZES[size];
  if (!t) throw new RangeError(`unknown item size ${size}`);
  return { ...t, seq };
}

export function isStop(item) {
  return item != null && typeof item === 'object' && item.stop === true;
}

export const STOP = Object.freeze({ stop: true });
