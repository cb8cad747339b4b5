/**
 * A consumer project outside the repo with the packed package installed, as a user gets it: `npm pack` of the built
 * package extracted into node_modules/persist-queue, and only the runtime dependencies (plus @types/node) linked in.
 * The repo's devDependencies (e.g. @types/better-sqlite3) are not reachable from there.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface Consumer {
  dir: string;
  cleanup(): void;
}

/** Packs the built package (run `npm run build` first) and installs it into a fresh temp project. */
export function packedConsumer(prefix = 'pq-consumer-'): Consumer {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  try {
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: repoRoot, encoding: 'utf8' }),
    ) as { filename: string }[];
    const target = join(dir, 'node_modules', 'persist-queue');
    mkdirSync(target, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, packed[0]!.filename), '-C', target, '--strip-components=1']);
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const name of [...Object.keys(pkg.dependencies), '@types/node']) {
      const link = join(dir, 'node_modules', name);
      mkdirSync(dirname(link), { recursive: true });
      symlinkSync(join(repoRoot, 'node_modules', name), link, 'dir');
    }
    return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
