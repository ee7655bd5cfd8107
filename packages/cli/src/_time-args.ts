import { wallToInstant } from '@smap/core'
import { UsageError } from './commands.js'

const HOUR = 3_600_000
const TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i
const RULE = 'a date like 2024-01-01 or a time like 2024-01-01T08:00 (both in the source\'s time zone) or 2024-01-01T08:00:00Z or 2024-01-01T08:00-07:00'

/** A --start or --end as written: an exact instant (it had an offset) or a wall time of the source's zone. */
export type TimeArg = { exact: number } | { wall: number }

/** Reads `2024-01-01`, `2024-01-01T08:00[:00[.000]]` (wall times) or either with `Z` or `±HH:MM` (exact), or a usage error naming `flag`. */
export function parseTimeArg(value: string, flag: string): TimeArg {
  const m = TIME.exec(value.trim())
  const bad = (why = ''): UsageError => new UsageError(`${flag}: expected ${RULE}, got "${value}"${why}`)
  if (!m) throw bad()
  const [y, mo, d, h = 0, mi = 0, s = 0] = m.slice(1, 7).map((x) => (x === undefined ? undefined : Number(x))) as number[]
  const ms = m[7] === undefined ? 0 : Math.round(Number(m[7]) * 1000)
  const wall = Date.UTC(y as number, (mo as number) - 1, d as number, h, mi, s, ms)
  const back = new Date(wall)
  // Date.UTC rolls 2024-02-30 over to March; a mistyped date must not become another one
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== (mo as number) - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi || back.getUTCSeconds() !== s) {
    throw bad(': no such date or time')
  }
  const zone = m[8]
  if (zone === undefined) return { wall }
  if (zone.toUpperCase() === 'Z') return { exact: wall }
  const sign = zone.startsWith('-') ? -1 : 1
  const digits = zone.slice(1).replace(':', '')
  const oh = Number(digits.slice(0, 2))
  const om = Number(digits.slice(2))
  if (oh > 23 || om > 59) throw bad(': no such offset')
  return { exact: wall - sign * (oh * HOUR + om * 60_000) }
}

/** The instant of a --start or --end in `zone`. */
export function timeIn(arg: TimeArg, zone: string): number {
  return 'exact' in arg ? arg.exact : wallToInstant(zone, arg.wall)
}

/**
 * Reads --start and --end at once (so a typo is reported before the config
 * loads) and returns how to place them in a zone: without --end, now;
 * without --start, an hour before the end (as the original sMAP loader had it).
 */
export function parseRange(args: { start?: string; end?: string }): (zone: string, now: number) => { start: number; end: number } {
  const startArg = args.start === undefined ? undefined : parseTimeArg(args.start, '--start')
  const endArg = args.end === undefined ? undefined : parseTimeArg(args.end, '--end')
  return (zone, now) => {
    const end = endArg === undefined ? now : timeIn(endArg, zone)
    const start = startArg === undefined ? end - HOUR : timeIn(startArg, zone)
    if (start >= end) throw new UsageError(`--start (${args.start ?? 'an hour before --end'}) must be before --end (${args.end ?? `now, ${new Date(now).toISOString()}`})`)
    return { start, end }
  }
}
