/** Formatting shared by every page: binary sizes, rates, durations, relative times. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  if (n < 1024) return `${Math.round(n)} B`;
  let v = n;
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${UNITS[i]}`;
}

/** Throughput: MB/s under 1 GB/s, else GiB/s (one decimal). */
export function formatRate(bytesPerSecond: number | null | undefined): string {
  if (!bytesPerSecond || !Number.isFinite(bytesPerSecond)) return '—';
  if (bytesPerSecond >= 1024 ** 3) return `${(bytesPerSecond / 1024 ** 3).toFixed(1)} GiB/s`;
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}

/** "2 min 14 s", "850 ms", "3 h 5 min". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** "3 min ago", "in 5 min", "just now". */
export function formatRelative(at: Date | string | number | null | undefined, now: number = Date.now()): string {
  if (at === null || at === undefined) return '—';
  const t = typeof at === 'number' ? at : new Date(at).getTime();
  if (!Number.isFinite(t)) return '—';
  const d = now - t;
  const abs = Math.abs(d);
  if (abs < 10_000) return 'just now';
  const text = formatDuration(abs).replace(/ \d+ s$/, '').replace(/ \d+ min$/, (x) => (abs >= 3_600_000 ? '' : x));
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

export function formatAbsolute(at: Date | string | number | null | undefined): string {
  if (at === null || at === undefined) return '';
  const d = new Date(at);
  return Number.isFinite(d.getTime()) ? d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '';
}

export function formatRatio(r: number | null | undefined): string {
  return r && Number.isFinite(r) ? `${r.toFixed(2)}×` : '—';
}

export function percent(part: number, whole: number): number {
  return whole > 0 ? Math.max(0, Math.min(100, (part / whole) * 100)) : 0;
}
