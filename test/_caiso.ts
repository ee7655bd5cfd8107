// What a CAISO Today's Outlook file should become, worked out here independently of the
// driver: Pacific wall clocks to UTC instants, header names to stream paths.

const HOUR = 3_600_000

const pacific = new Intl.DateTimeFormat('en-US', {
  timeZone: 'America/Los_Angeles',
  hourCycle: 'h23',
  year: 'numeric',
  month: 'numeric',
  day: 'numeric',
  hour: 'numeric',
  minute: 'numeric',
})

/** A calendar date: [year, month 1–12, day]. */
export type Ymd = [number, number, number]

function parts(t: number): Record<string, number> {
  return Object.fromEntries(pacific.formatToParts(t).map((p) => [p.type, Number(p.value)])) as Record<string, number>
}

/** The Pacific date at instant `t`. */
export function pacificDate(t: number): Ymd {
  const p = parts(t)
  return [p.year as number, p.month as number, p.day as number]
}

export function addDays([y, m, d]: Ymd, days: number): Ymd {
  const t = new Date(Date.UTC(y, m - 1, d + days))
  return [t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate()]
}

/** `20240310`. */
export const ymd = ([y, m, d]: Ymd): string => `${y}${String(m).padStart(2, '0')}${String(d).padStart(2, '0')}`

/** The instants (0, 1 or 2) at which Pacific clocks read `minutes` past midnight of `date`: Pacific is UTC-7 or UTC-8. */
export function pacificInstants([y, m, d]: Ymd, minutes: number): number[] {
  const wall = Date.UTC(y, m - 1, d) + minutes * 60_000
  return [wall + 7 * HOUR, wall + 8 * HOUR].filter((t) => {
    const p = parts(t)
    return Date.UTC(p.year as number, (p.month as number) - 1, p.day as number, p.hour as number, p.minute as number) === wall
  })
}

/** The first instant of a Pacific date. */
export const pacificMidnight = (date: Ymd): number => pacificInstants(date, 0)[0] as number

// the same header means a different stream in each file: netdemand.csv's "Hour ahead forecast" and
// "Current demand" are of (gross) demand, beside its net demand
const OUTLOOK_PATHS: Record<string, Record<string, string>> = {
  demand: {
    'Day ahead forecast': '/demand/day_ahead_forecast',
    'Hour ahead forecast': '/demand/hour_ahead_forecast',
    'Current demand': '/demand/current',
    'Demand response': '/demand/demand_response',
  },
  netdemand: {
    'Hour ahead forecast': '/netdemand/demand_hour_ahead_forecast',
    'Current demand': '/netdemand/demand',
    'Net demand': '/netdemand/current',
    'Net demand forecast': '/netdemand/forecast',
    'Demand response': '/netdemand/demand_response',
  },
}

/** The driver-relative stream a Today's Outlook column of `file` feeds, by its header. */
export function outlookPath(file: string, header: string): string {
  return OUTLOOK_PATHS[file]?.[header] ?? `/fuel/${header.toLowerCase().replace(/ /g, '_')}`
}

/** `Extra/Type` of a driver-relative CAISO stream path. */
export const caisoType = (path: string): string => ({ demand: 'demand', netdemand: 'netdemand', fuel: 'fuel', lmp: 'price' })[path.split('/')[1] as string] as string

/** Whether a stream holds actual values (not forecasts). */
export const isActual = (path: string): boolean => !path.includes('forecast')

/**
 * The readings of a Today's Outlook file on a Pacific date, per stream: each
 * row's `HH:MM` is the first instant after the previous row's with that wall
 * clock (so a trailing `00:00` is the next midnight and a repeated hour gets
 * the later offset); empty cells give nothing.
 */
export function outlookReadings(csv: string, date: Ymd, file: string): Map<string, Array<[number, number]>> {
  const [head, ...lines] = csv.trimEnd().split('\r\n')
  const headers = (head as string).split(',')
  const out = new Map<string, Array<[number, number]>>(headers.slice(1).map((h) => [outlookPath(file, h), []]))
  let previous = -Infinity
  lines.forEach((line, i) => {
    const cells = line.split(',')
    const [hh, mm] = (cells[0] as string).split(':').map(Number) as [number, number]
    const minutes = hh * 60 + mm
    const candidates = pacificInstants(date, minutes)
    if (minutes === 0 && i > 0) candidates.push(...pacificInstants(addDays(date, 1), 0))
    const time = candidates.find((t) => t > previous)
    if (time === undefined) return
    previous = time
    headers.forEach((h, c) => {
      if (c === 0 || cells[c] === '') return
      out.get(outlookPath(file, h))?.push([time, Number(cells[c])])
    })
  })
  return out
}
