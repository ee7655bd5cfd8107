// Wall clocks of an IANA time zone, with the platform's Intl (Node ships full
// ICU and its tz database): the zone's offset at an instant is all Intl gives,
// and the rest (a wall time to an instant, local days) is worked out here.

const HOUR = 3_600_000
const DAY = 24 * HOUR

const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
    formatters.set(zone, f)
  }
  return f
}

/** The wall clock of `zone` at instant `t`, as the Unix ms of the same reading in UTC. */
function wallAt(zone: string, t: number): number {
  const p: Record<string, number> = {}
  for (const part of formatter(zone).formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value)
  return Date.UTC(p.year as number, (p.month as number) - 1, p.day as number, p.hour as number, p.minute as number, p.second as number) + (((t % 1000) + 1000) % 1000)
}

/** How far `zone`'s clocks are ahead of UTC at instant `t`, ms (e.g. -8 h in California in winter). */
export function zoneOffset(zone: string, t: number): number {
  return wallAt(zone, t) - t
}

/**
 * The instant at which `zone`'s clocks read `wall` (a wall time written as the
 * Unix ms of the same reading in UTC). A time the clocks skip (spring forward)
 * is read with the offset before the change, so 02:30 becomes 03:30; a time
 * they show twice (fall back) is its first occurrence. This is RFC 9557 /
 * Temporal's "compatible" disambiguation.
 */
export function wallToInstant(zone: string, wall: number): number {
  // offsets change at most once within a day in the zones of the tz database
  const before = zoneOffset(zone, wall - DAY)
  const after = zoneOffset(zone, wall + DAY)
  const valid = [wall - before, wall - after].filter((t) => wallAt(zone, t) === wall)
  return valid.length > 0 ? Math.min(...valid) : wall - before
}

/** The first instant of the local day after the one `t` falls on in `zone`. */
export function nextLocalMidnight(zone: string, t: number): number {
  const wall = wallAt(zone, t)
  for (let days = 1; ; days++) {
    const next = wallToInstant(zone, Math.floor(wall / DAY) * DAY + days * DAY)
    if (next > t) return next
  }
}

/** Instant `t` as `zone`'s wall clock with its offset, to the minute: `2024-03-10T00:00-08:00` (`Z` for UTC). */
export function formatLocalTime(zone: string, t: number): string {
  const offset = Math.round(zoneOffset(zone, t) / 60_000)
  const wall = new Date(t + offset * 60_000).toISOString().slice(0, 16)
  if (offset === 0) return `${wall}Z`
  const abs = Math.abs(offset)
  return `${wall}${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
}
