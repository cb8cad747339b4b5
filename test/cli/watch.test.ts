import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, children, cli, live, tmp } from './helpers.js';

const hasScript = spawnSync('script', ['--version']).status === 0;
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

describe('persist-queue watch', () => {
  it.skipIf(!hasScript)('under a pseudo-terminal: redraws in place, rates from two samples, Ctrl-C leaves the terminal clean', async () => {
    const db = join(tmp(), 'w.db');
    await live('sqlite', db, 'produce');
    await live('sqlite', db, 'consume');
    // script(1) gives the command a pseudo-terminal; writing ^C to its input is a real Ctrl-C (the pty sends SIGINT)
    const c = spawn('script', ['-qfc', `'${process.execPath}' '${BIN}' watch '${db}' --interval 200`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '' } });
    children.push(c);
    let out = '';
    let sent = false;
    c.stdout!.on('data', (d) => {
      out += d;
      if (!sent && (out.match(/\x1b\[\d+F\x1b\[J/g) ?? []).length >= 3) (sent = true), c.stdin!.write('\x03');
    });
    const code = await new Promise((r) => c.on('exit', r));
    expect(code).toBe(0);
    expect(out.startsWith('\x1b[?25l')).toBe(true); // cursor hidden while drawing
    expect(out).toMatch(/\x1b\[1m/); // colour on a TTY
    expect(out.endsWith('\x1b[?25h\r\n')).toBe(true); // cursor back, line ended
    const frames = out.split(/\x1b\[\d+F\x1b\[J/);
    expect(frames.length).toBeGreaterThanOrEqual(4);
    // every redraw moves up exactly the lines of the frame before it
    const ups = [...out.matchAll(/\x1b\[(\d+)F/g)].map((m) => Number(m[1]));
    for (let i = 0; i < ups.length; i++) expect(ups[i]).toBe(frames[i]!.split('\r\n').length - 1);
    expect(frames[0]).toMatch(/default\s+fifo\s+\d+\s+-\s+-/); // one sample: no rates yet
    const last = frames[frames.length - 2]!.replace(/\x1b\[[0-9;]*m/g, '');
    const m = /default\s+fifo\s+\d+\s+([\d.]+)\s+([\d.]+)/.exec(last);
    expect(m, last).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(Number(m![2])).toBeGreaterThan(0);
  }, 30_000);

  it.skipIf(!hasScript)('colour on a terminal, none with NO_COLOR even there, none off a terminal', () => {
    const db = join(tmp(), 'c.db');
    expect(cli(['put', db, '1']).code).toBe(0);
    const env = { ...process.env };
    delete env.FORCE_COLOR;
    const onPty = (noColour: string) =>
      spawnSync('script', ['-qfc', `'${process.execPath}' '${BIN}' info '${db}'`, '/dev/null'], { encoding: 'utf8', input: '', env: { ...env, NO_COLOR: noColour } }).stdout;
    expect(onPty('')).toMatch(/\x1b\[1m/);
    expect(onPty('1')).not.toMatch(/\x1b/);
    expect(onPty('1')).toMatch(/default\s+fifo\s+1/);
    expect(cli(['info', db], undefined, { NO_COLOR: '' }).stdout).not.toMatch(/\x1b/);
  }, 30_000);

  it('off a TTY: JSON samples with rates from the second one on, on a file queue; NO_COLOR output has no escapes; SIGINT ends it with 0', async () => {
    const dir = join(tmp(), 'q');
    await live('file', dir, 'produce');
    const c = spawn(process.execPath, [BIN, 'watch', dir, '--interval', '150', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    let out = '';
    c.stdout!.on('data', (d) => {
      out += d;
      if (out.split('\n').length > 4) c.kill('SIGINT');
    });
    const code = await new Promise((r) => c.on('exit', r));
    expect(code).toBe(0);
    const samples = out.trim().split('\n').map((l) => JSON.parse(l));
    expect(samples[0].queues[0]).toMatchObject({ name: 'default', kind: 'fifo', inPerSec: null, outPerSec: null });
    expect(samples[3].queues[0].inPerSec).toBeGreaterThan(0);
    expect(samples[3].queues[0].size).toBeGreaterThan(0);
    const plain = spawn(process.execPath, [BIN, 'watch', dir, '--interval', '100'], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '1' } });
    children.push(plain);
    let text = '';
    plain.stdout!.on('data', (d) => {
      text += d;
      if (text.includes('in/s') && !plain.killed) plain.kill('SIGINT');
    });
    expect(await new Promise((r) => plain.on('exit', r))).toBe(0);
    expect(text).not.toMatch(/\x1b/);
    expect(cli(['watch', join(dir, 'nope')]).code).toBe(2);
    expect(cli(['watch', dir, '--interval', '5']).stderr).toMatch(/--interval must be an integer >= 100/);
  }, 30_000);
});
