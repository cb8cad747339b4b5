// Machine facts for the report header.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10000 }).trim();
  } catch {
    return null;
  }
}

export function fsType(dir) {
  const t = sh('stat', ['-f', '-c', '%T', dir]);
  const df = sh('df', ['-T', dir]);
  const dev = df ? df.split('\n')[1]?.split(/\s+/) : null;
  return dev ? `${dev[1]} (${dev[0]})` : (t ?? 'unknown');
}

export function machineFacts({ tmpRoot, betterSqliteVersion, peerBetterSqliteVersion }) {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    ram: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    tmpdir: os.tmpdir(),
    tmpFs: fsType(tmpRoot),
    betterSqlite3: betterSqliteVersion ?? 'not loadable',
    peerBetterSqlite3: peerBetterSqliteVersion ?? 'not installed',
    loadavg: os.loadavg().map((x) => x.toFixed(2)).join(' '),
    python: sh('python3', ['--version']) ?? 'none',
    cpuGovernor: fs.existsSync('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor')
      ? fs.readFileSync('/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor', 'utf8').trim()
      : 'n/a',
  };
}
