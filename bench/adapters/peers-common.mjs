// Shared helpers for peer adapters: load modules from bench/peers/node_modules only.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const PEERS_DIR = fileURLToPath(new URL('../peers/', import.meta.url));
const peerRequire = createRequire(new URL('../peers/package.json', import.meta.url));

export function peersInstalled() {
  return fs.existsSync(new URL('../peers/node_modules/', import.meta.url));
}

export function requirePeer(name) {
  return peerRequire(name);
}

export function peerVersion(name) {
  try {
    const p = peerRequire.resolve(`${name}/package.json`);
    return JSON.parse(fs.readFileSync(p, 'utf8')).version;
  } catch {
    return null;
  }
}

/** import() an ESM peer (resolved from bench/peers). */
export async function importPeer(name) {
  return import(pathToFileURL(peerRequire.resolve(name)).href);
}

/** A skip reason if the peer is not installed or does not load, else null. */
export async function checkPeer(name, load) {
  if (!peersInstalled()) return 'bench/peers/node_modules is missing (peer install failed or --no-install)';
  try {
    await load();
    return null;
  } catch (e) {
    return `does not load on Node ${process.versions.node}: ${String(e.message).split('\n')[0].slice(0, 160)}`;
  }
}

export const silentLogger = { error() {}, warn() {}, info() {}, debug() {} };

/**
 * A pull-style buffer for peers that push items to a handler: the handler hands over
 * (item, release) and get() takes the next one and calls release() (which lets the
 * peer delete the message / move on).
 */
export class PullBuffer {
  constructor() {
    this.items = [];
    this.waiters = [];
  }
  push(item, release) {
    const w = this.waiters.shift();
    if (w) {
      release?.();
      w(item);
    } else this.items.push([item, release]);
  }
  take(waitMs) {
    const e = this.items.shift();
    if (e) {
      e[1]?.();
      return Promise.resolve(e[0]);
    }
    return new Promise((resolve) => {
      let t;
      const w = (x) => {
        clearTimeout(t);
        resolve(x);
      };
      this.waiters.push(w);
      if (waitMs !== undefined) {
        t = setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(undefined);
        }, waitMs);
      }
    });
  }
}
