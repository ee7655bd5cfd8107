import { setTimeout as delay } from 'node:timers/promises'

/** CAISO publishes Pacific wall-clock times. */
export const PACIFIC = 'America/Los_Angeles'

export const MINUTE = 60_000
export const HOUR = 60 * MINUTE
export const DAY = 24 * HOUR

/** A calendar date (month 1–12), with no zone attached. */
export interface LocalDate {
  year: number
  month: number
  day: number
}

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    })
    formatters.set(zone, f)
  }
  return f
}

/** The wall clock of `zone` at instant `t`, written as if it were a UTC instant. */
function wallClock(t: number, zone: string): number {
  const p: Record<string, number> = {}
  for (const part of formatter(zone).formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value)
  return Date.UTC(p.year as number, (p.month as number) - 1, p.day as number, p.hour as number, p.minute as number, p.second as number)
}

/** The zone's offset from UTC at instant `t`, in ms (Pacific: -7 h or -8 h). */
export function zoneOffset(t: number, zone: string = PACIFIC): number {
  const whole = Math.floor(t / 1000) * 1000
  return wallClock(whole, zone) - whole
}

/**
 * The instants at which the wall clock of `zone` reads `minutes` past
 * midnight on `date`, ascending: none in a skipped hour (spring forward),
 * two in a repeated hour (fall back), else one.
 */
export function localInstants(date: LocalDate, minutes: number, zone: string = PACIFIC): number[] {
  const wall = Date.UTC(date.year, date.month - 1, date.day) + minutes * MINUTE
  // the offsets in force a day either side cover both sides of any transition that day
  const offsets = new Set([zoneOffset(wall - DAY, zone), zoneOffset(wall, zone), zoneOffset(wall + DAY, zone)])
  const out = new Set<number>()
  for (const o of offsets) {
    const t = wall - o
    if (zoneOffset(t, zone) === o) out.add(t)
  }
  return [...out].sort((a, b) => a - b)
}

/** The first instant of `date` in `zone`. */
export function startOfDay(date: LocalDate, zone: string = PACIFIC): number {
  const [first] = localInstants(date, 0, zone)
  if (first !== undefined) return first
  const wall = Date.UTC(date.year, date.month - 1, date.day)
  return wall - zoneOffset(wall, zone)
}

/** The date in `zone` at instant `t`. */
export function localDate(t: number, zone: string = PACIFIC): LocalDate {
  const d = new Date(wallClock(t, zone))
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() }
}

export function addDays(date: LocalDate, days: number): LocalDate {
  const d = new Date(Date.UTC(date.year, date.month - 1, date.day + days))
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() }
}

/** Negative, zero or positive as `a` is before, on or after `b`. */
export function compareDates(a: LocalDate, b: LocalDate): number {
  return Date.UTC(a.year, a.month - 1, a.day) - Date.UTC(b.year, b.month - 1, b.day)
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0')

/** `20240310`, as in Today's Outlook history paths. */
export function formatYmd(date: LocalDate): string {
  return `${pad(date.year, 4)}${pad(date.month)}${pad(date.day)}`
}

/** `20240310T08:00-0000`: the UTC form OASIS takes for startdatetime/enddatetime. */
export function formatOasisTime(t: number): string {
  const d = new Date(t)
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}-0000`
}

/** Resolves after `ms`, or rejects with the abort reason when `signal` fires. */
export async function sleep(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal })
  } catch (err) {
    throw signal.aborted ? signal.reason : err
  }
}
