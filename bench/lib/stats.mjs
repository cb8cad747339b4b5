// Small statistics and number formatting helpers.
export function median(xs) {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** The p-th percentile (0-100) of `xs`, nearest rank; NaN for none. */
export function percentile(xs, p) {
  const v = [...xs].sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}

/** Spread of runs as +-% of the median: (max - min) / 2 / median. */
export function spreadPct(xs) {
  const v = xs.filter((x) => Number.isFinite(x));
  if (v.length < 2) return NaN;
  const m = median(v);
  return ((Math.max(...v) - Math.min(...v)) / 2 / m) * 100;
}

export function fmtRate(x) {
  if (!Number.isFinite(x)) return '–';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e4) return `${(x / 1e3).toFixed(0)}k`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  if (x >= 100) return x.toFixed(0);
  return x.toFixed(1);
}

export function fmtRatio(x) {
  if (!Number.isFinite(x)) return '–';
  if (x >= 10) return `${x.toFixed(0)}×`;
  if (x >= 0.1) return `${x.toFixed(2)}×`;
  return `${x.toPrecision(1)}×`;
}

export function fmtCount(n) {
  if (!Number.isFinite(n)) return '–';
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return String(n);
}

export function fmtBytes(b) {
  if (!Number.isFinite(b)) return '–';
  return `${(b / 1024 / 1024).toFixed(0)} MB`;
}

export function fmtMs(ms) {
  if (!Number.isFinite(ms)) return '–';
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}
