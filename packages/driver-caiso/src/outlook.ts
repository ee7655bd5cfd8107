import { parse } from 'csv-parse/sync'
import { get, isHtml, shown, text, type HttpAnswer } from './_http.js'
import { addDays, formatYmd, localDate, localInstants, MINUTE, PACIFIC, type LocalDate } from './_time.js'
import { CaisoError } from './errors.js'

/** The Today's Outlook files this driver reads. */
export const OUTLOOK_FILES = ['demand', 'netdemand', 'fuelsource'] as const
export type OutlookFile = (typeof OUTLOOK_FILES)[number]

/** One column of a Today's Outlook file and the stream it feeds. */
export interface OutlookColumn {
  /** Driver-relative stream path, also the stream's key. */
  path: string
  /** The header as CAISO writes it today. */
  header: string
  /** Other headers the column has had or may have. */
  aliases: string[]
  /** `Extra/Type`: demand, netdemand or fuel. */
  type: string
  /** `Extra/Subtype`: the last segment of the path. */
  subtype: string
  /** Forecasts have values for the whole day; only actuals show how far the day has got. */
  forecast: boolean
  description: string
}

function columns(file: OutlookFile, base: string, type: string, list: Array<[slug: string, header: string, options?: { forecast?: boolean; aliases?: string[] }]>): OutlookColumn[] {
  return list.map(([slug, header, o = {}]) => ({
    path: `${base}/${slug}`,
    header,
    aliases: o.aliases ?? [],
    type,
    subtype: slug,
    forecast: o.forecast ?? false,
    description: `${header} (CAISO Today's Outlook, ${file}.csv)`,
  }))
}

/** Every column the driver knows, per file; other columns are ignored. */
export const OUTLOOK_COLUMNS: Record<OutlookFile, OutlookColumn[]> = {
  // Time,Day ahead forecast,Hour ahead forecast,Current demand[,Demand response]
  demand: columns('demand', '/demand', 'demand', [
    ['day_ahead_forecast', 'Day ahead forecast', { forecast: true }],
    ['hour_ahead_forecast', 'Hour ahead forecast', { forecast: true }],
    ['current', 'Current demand', { aliases: ['Demand', 'Actual demand'] }],
    // mostly empty; not taken as a sign of how far the day has got
    ['demand_response', 'Demand response', { forecast: true }],
  ]),
  // Time,Hour ahead forecast,Current demand,Net demand[,Net demand forecast,Demand response]: the
  // hour-ahead forecast and current demand here are of (gross) demand, not net demand
  netdemand: columns('netdemand', '/netdemand', 'netdemand', [
    ['current', 'Net demand', { aliases: ['Current net demand'] }],
    ['forecast', 'Net demand forecast', { forecast: true }],
    ['demand', 'Current demand', { aliases: ['Demand'] }],
    ['demand_hour_ahead_forecast', 'Hour ahead forecast', { forecast: true }],
    ['demand_response', 'Demand response', { forecast: true }],
  ]),
  fuelsource: columns('fuelsource', '/fuel', 'fuel', [
    ['solar', 'Solar'],
    ['wind', 'Wind'],
    ['geothermal', 'Geothermal'],
    ['biomass', 'Biomass'],
    ['biogas', 'Biogas'],
    ['small_hydro', 'Small hydro'],
    ['coal', 'Coal'],
    ['nuclear', 'Nuclear'],
    ['natural_gas', 'Natural Gas', { aliases: ['Natural gas', 'Gas'] }],
    ['large_hydro', 'Large Hydro'],
    ['batteries', 'Batteries', { aliases: ['Battery', 'Storage'] }],
    ['imports', 'Imports', { aliases: ['Import'] }],
    ['other', 'Other'],
  ]),
}

/** `Small  Hydro` and `small-hydro` are the same header. */
function normalizeHeader(h: string): string {
  return h.toLowerCase().replace(/[^a-z0-9]+/g, ' ').trim()
}

/** A Today's Outlook file split into rows, its columns matched by header name. */
export interface OutlookTable {
  file: OutlookFile
  /** Known columns found in the header, with their index. */
  columns: Array<{ column: OutlookColumn; index: number }>
  /** Headers the driver does not know (ignored). */
  unknown: string[]
  /** Data rows: minutes past midnight from `Time` (undefined when unreadable) and the cells. */
  rows: Array<{ minutes: number | undefined; cells: string[] }>
}

/** Parses a Today's Outlook CSV (CRLF, `Time` as Pacific `HH:MM`, one column per series). */
export function parseOutlookCsv(csv: string, file: OutlookFile, where: string = `${file}.csv`): OutlookTable {
  let records: string[][]
  try {
    records = parse(csv, { bom: true, relax_column_count: true, skip_empty_lines: true, trim: true }) as string[][]
  } catch (err) {
    throw new CaisoError('SMAP_CAISO_FORMAT', `${where} is not valid CSV: ${(err as Error).message}`, { cause: err })
  }
  const [header, ...data] = records
  const names = (header ?? []).map(normalizeHeader)
  const timeIndex = names.indexOf('time')
  if (!header || timeIndex === -1) {
    throw new CaisoError('SMAP_CAISO_FORMAT', `${where} has no "Time" column: its first line is ${JSON.stringify((header ?? []).join(','))}`)
  }
  const known = new Map<string, OutlookColumn>()
  for (const column of OUTLOOK_COLUMNS[file]) for (const h of [column.header, ...column.aliases]) known.set(normalizeHeader(h), column)
  const found: OutlookTable['columns'] = []
  const unknown: string[] = []
  names.forEach((name, index) => {
    if (index === timeIndex) return
    const column = known.get(name)
    if (column && !found.some((f) => f.column === column)) found.push({ column, index })
    else unknown.push(header[index] as string)
  })
  return {
    file,
    columns: found,
    unknown,
    rows: data.map((cells) => ({ minutes: parseClock(cells[timeIndex] ?? ''), cells })),
  }
}

function parseClock(s: string): number | undefined {
  const m = /^(\d{1,2}):(\d{2})$/.exec(s)
  if (!m) return undefined
  const h = Number(m[1])
  const min = Number(m[2])
  return h < 24 && min < 60 ? h * 60 + min : undefined
}

/** One row of a file on a known date: an instant and the values present in it. */
export interface OutlookReading {
  time: number
  values: Array<{ column: OutlookColumn; value: number }>
}

/**
 * Dates the rows of `table` on `date`: each `HH:MM` becomes the earliest
 * Pacific instant with that wall clock after the previous row's, so the
 * trailing `00:00` is the next midnight and the second run of a repeated
 * hour (November) gets the later offset. Rows whose time does not exist
 * (the skipped hour in March) or does not move forward are dropped, as are
 * empty and unreadable cells: future rows publish nothing, never zeros.
 */
export function datedReadings(table: OutlookTable, date: LocalDate, zone: string = PACIFIC): OutlookReading[] {
  const out: OutlookReading[] = []
  let previous = -Infinity
  let first = true
  for (const row of table.rows) {
    if (row.minutes === undefined) continue
    const candidates = localInstants(date, row.minutes, zone)
    if (row.minutes === 0 && !first) candidates.push(...localInstants(addDays(date, 1), 0, zone))
    first = false
    const time = candidates.find((t) => t > previous)
    if (time === undefined) continue
    previous = time
    const values: OutlookReading['values'] = []
    for (const { column, index } of table.columns) {
      const cell = row.cells[index] ?? ''
      if (cell === '') continue
      const value = Number(cell)
      if (Number.isFinite(value)) values.push({ column, value })
    }
    if (values.length > 0) out.push({ time, values })
  }
  return out
}

/** The latest instant with an actual (not forecast) value, if any. */
export function latestActual(readings: OutlookReading[]): number | undefined {
  for (let i = readings.length - 1; i >= 0; i--) {
    const r = readings[i] as OutlookReading
    if (r.values.some((v) => !v.column.forecast)) return r.time
  }
  return undefined
}

/** How far in the future an actual value may seem before the file is taken for yesterday's. */
const FUTURE_TOLERANCE_MS = 30 * MINUTE

/**
 * Dates the current file. It carries no date: it is today's unless its
 * actuals would lie in the future, which happens just after midnight while
 * CAISO still serves yesterday's file.
 */
export function dateCurrentFile(table: OutlookTable, now: number, zone: string = PACIFIC): { date: LocalDate; readings: OutlookReading[] } {
  const today = localDate(now, zone)
  const readings = datedReadings(table, today, zone)
  const latest = latestActual(readings)
  if (latest !== undefined && latest > now + FUTURE_TOLERANCE_MS) {
    const yesterday = addDays(today, -1)
    return { date: yesterday, readings: datedReadings(table, yesterday, zone) }
  }
  return { date: today, readings }
}

export function currentUrl(base: string, file: OutlookFile, now: number): string {
  // CAISO's CDN serves a stale copy of an unchanged URL: vary it, as CAISO's own page does
  return `${base}/current/${file}.csv?_=${now}`
}

export function historyUrl(base: string, file: OutlookFile, date: LocalDate, now: number): string {
  // the CDN caches history files too, including a 403 or an error page given in place of one
  return `${base}/history/${formatYmd(date)}/${file}.csv?_=${now}`
}

/** GETs a current Outlook file; a CSV or a `CaisoError`. */
export async function fetchOutlookFile(url: string, signal: AbortSignal): Promise<string> {
  const answer: HttpAnswer = await get(url, signal)
  if (answer.status !== 200) throw new CaisoError('SMAP_CAISO_HTTP', `GET ${shown(url)} answered HTTP ${answer.status}`)
  if (isHtml(answer)) throw new CaisoError('SMAP_CAISO_FORMAT', `GET ${shown(url)} answered an HTML page where a CSV file was expected`)
  return text(answer.body)
}

/** A history file, or why there is none to read. */
export type HistoryFile = { csv: string } | { missing: string }

/**
 * GETs a history file. CAISO answers a day it has no file for with a 404, a
 * 403 or an HTML page under 200; each is `missing` (with what was answered),
 * as waiting would not make the file appear. Other failures (5xx, no answer)
 * throw, to be tried again.
 */
export async function fetchHistoryFile(url: string, signal: AbortSignal): Promise<HistoryFile> {
  const answer: HttpAnswer = await get(url, signal)
  if (answer.status === 404 || answer.status === 403 || answer.status === 410) return { missing: `answered HTTP ${answer.status}` }
  if (answer.status !== 200) throw new CaisoError('SMAP_CAISO_HTTP', `GET ${shown(url)} answered HTTP ${answer.status}`)
  if (isHtml(answer)) return { missing: 'answered an HTML page instead of a CSV file' }
  return { csv: text(answer.body) }
}
