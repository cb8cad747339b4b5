// Fresh temp directories under os.tmpdir(); everything a run makes is removed after.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function makeRoot() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'pq-bench-'));
}

/** A new empty directory under root (or under os.tmpdir() when root is not given). */
export function freshDir(root, label = 'run') {
  const base = root ?? os.tmpdir();
  return fs.mkdtempSync(path.join(base, `${label.replace(/[^A-Za-z0-9_-]+/g, '_')}-`));
}

export function removeDir(dir) {
  try {
    fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch {
    /* best effort: the parent removes the whole root at the end */
  }
}
