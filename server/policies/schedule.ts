import { Cron } from 'croner';

/** Null when the expression is a valid 5-field cron schedule, else why not. */
export function cronError(expr: string, timezone = 'UTC'): string | null {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) return 'Use 5 fields: minute hour day-of-month month day-of-week (e.g. "0 */4 * * *")';
  try {
    const c = new Cron(expr, { paused: true, timezone });
    if (!c.nextRun()) return 'This schedule never runs';
    return null;
  } catch (e) {
    return `Not a valid cron schedule: ${(e as Error).message}`;
  }
}

export function timezoneError(tz: string): string | null {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return null;
  } catch {
    return `Unknown time zone "${tz}" (use an IANA name such as UTC or Europe/Berlin)`;
  }
}

/** The first run strictly after `after`. */
export function nextRun(expr: string, timezone: string, after: number): number | null {
  const next = new Cron(expr, { paused: true, timezone }).nextRun(new Date(after));
  return next ? next.getTime() : null;
}
