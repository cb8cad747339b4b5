/**
 * Output helpers of the CLI: colour (only on a TTY, never with NO_COLOR, forced by FORCE_COLOR), aligned tables,
 * sizes and relative ages. Internal to the CLI.
 */

/** Error that ends the command with an exit code and a one-line message. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2) {
    super(message);
  }
}

export const usageError = (msg: string): CliError => new CliError(msg, 2);
export const problem = (msg: string): CliError => new CliError(msg, 1);

/** Whether to colour a stream: NO_COLOR wins, then FORCE_COLOR, then isTTY. */
export function useColour(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '') return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return stream.isTTY === true;
}

const CODES = { bold: 1, dim: 2, red: 31, green: 32, yellow: 33, cyan: 36 } as const;
export type Style = keyof typeof CODES;

let colourOn = false;
export function setColour(on: boolean): void {
  colourOn = on;
}
export function paint(style: Style, s: string): string {
  return colourOn ? `\x1b[${CODES[style]}m${s}\x1b[0m` : s;
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const width = (s: string): number => [...s.replace(ANSI, '')].length;

/** Aligned columns; `right` lists the column indexes to right-align (numbers). */
export function table(head: string[], rows: string[][], right: number[] = []): string {
  const w = head.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const pad = ' '.repeat(w[i]! - width(c));
        return right.includes(i) ? pad + c : c + pad;
      })
      .join('  ')
      .trimEnd();
  return [paint('bold', line(head)), ...rows.map(line)].join('\n');
}

/** 1536 -> "1.5 KiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** Age of a timestamp (ms since the epoch) as "3 min ago". */
export function ago(ms: number | null, now = Date.now()): string {
  if (ms === null) return '-';
  const s = Math.max(0, (now - ms) / 1000);
  if (s < 1) return 'just now';
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** An item for a one-line human display. */
export function short(v: unknown, max = 60): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > max ? s.slice(0, max - 1) + '…' : s;
}

/** Writes a line to stdout. */
export function out(s: string): void {
  process.stdout.write(s + '\n');
}

/** A time relative to now: "in 3 min" when in the future, else as {@link ago} ("now" within a second). */
export function when(ms: number, now = Date.now()): string {
  const s = (ms - now) / 1000;
  if (s < 1) return s > -1 ? 'now' : ago(ms, now);
  if (s < 60) return `in ${Math.ceil(s)} s`;
  if (s < 3600) return `in ${Math.ceil(s / 60)} min`;
  if (s < 86400) return `in ${Math.ceil(s / 3600)} h`;
  return `in ${Math.ceil(s / 86400)} d`;
}
