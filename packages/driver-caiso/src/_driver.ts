import { defineDriver, type DriverContext, type LoadRange } from '@smap/sdk'
import { shown } from './_http.js'
import { addDays, compareDates, formatYmd, HOUR, localDate, MINUTE, PACIFIC, sleep, startOfDay, type LocalDate } from './_time.js'
import { CaisoError } from './errors.js'
import { COMPONENT_NAMES, COMPONENTS, MARKET_QUERIES, MAX_WINDOW_MS, OasisClient, pricePath, splitWindows, type Market, type PriceRow } from './oasis.js'
import { caisoOptionsSchema, type CaisoOptions } from './options.js'
import {
  currentUrl,
  datedReadings,
  dateCurrentFile,
  fetchHistoryFile,
  fetchOutlookFile,
  historyUrl,
  OUTLOOK_COLUMNS,
  parseOutlookCsv,
  type HistoryFile,
  type OutlookFile,
  type OutlookReading,
  type OutlookTable,
} from './outlook.js'

/** What the driver takes from its surroundings; tests replace the waiting. */
export interface DriverDeps {
  /** Waits `ms` (default a timer); rejects when `signal` fires. */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>
}

/** Day-ahead prices change once a day: ask at most this often while tomorrow's are incomplete. */
const DAM_REFRESH_MS = HOUR
/** The real-time window of a poll reaches this far back before the latest price seen, for late rows. */
const RTM_OVERLAP_MS = HOUR
/** A history import retries a throttled OASIS request this many times. */
const LOAD_RETRIES = 4
/** After downtime, a live poll catches up at most this many days before today; older gaps are for `smap load`. */
export const CATCH_UP_DAYS = 7

/** Keys of `ctx.state`, the driver instance's memory that outlives the process. */
const SAVED = {
  /** `{ [stream path]: Unix ms }`: the latest reading the live poll added, per stream. */
  last: 'last',
  /** `{ [file]: 'YYYYMMDD' }`: the date of each Outlook file at its last poll. */
  days: 'outlookDays',
  /** `{ [market]: Unix ms }`: the latest price interval seen, per market. */
  latest: 'marketLatest',
} as const

/**
 * What a driver instance remembers between polls. `last`, `fileDay` and
 * `marketLatest` are also kept in `ctx.state`, so a new process goes on where
 * the last one stopped; the rest lives as long as the process.
 */
interface State {
  /** Per stream, the time of the latest reading the live poll added. */
  last: Map<string, number>
  /** Per Outlook file, the date of the current file at the last poll: earlier days are complete. */
  fileDay: Map<OutlookFile, LocalDate>
  /** Per market, the latest interval start seen. */
  marketLatest: Map<Market, number>
  damAskedAt: number | undefined
  oasis: OasisClient
  /** Problems of the last poll, by what failed, so each is logged once when it starts and once when it ends. */
  failing: Map<string, string>
  unknownColumns: Set<string>
  /** Recent history files (or why there was none) by URL: chunks that are not Pacific days (`smap load --timezone UTC`) ask for a day twice in a row. */
  history: Map<string, HistoryFile>
  /** What `ctx.state` holds, as JSON per key, so a poll writes only what changed. */
  saved: Map<string, string>
}

const HISTORY_CACHE_SIZE = 8

// Keyed by the context: the host keeps one per driver instance for its whole
// life, so a restarted driver (stop/start, or after a failure) resumes where
// it was and adds no reading twice. A new process starts from `ctx.state`.
const states = new WeakMap<DriverContext, State>()

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The entries of a saved object whose key is in `keys` and whose value `parse` accepts. */
function restored<K extends string, V>(saved: unknown, keys: readonly K[], parse: (v: unknown) => V | undefined): Map<K, V> {
  const out = new Map<K, V>()
  if (!isRecord(saved)) return out
  for (const k of keys) {
    const v = k in saved ? parse(saved[k]) : undefined
    if (v !== undefined) out.set(k, v)
  }
  return out
}

const parseTime = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)
const parseYmd = (v: unknown): LocalDate | undefined => {
  const m = typeof v === 'string' ? /^(\d{4})(\d{2})(\d{2})$/.exec(v) : null
  return m ? { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) } : undefined
}

/** The driver's streams, whose latest times are worth keeping. */
function streamPaths(options: CaisoOptions): string[] {
  const paths = options.Files.flatMap((file) => OUTLOOK_COLUMNS[file].map((c) => c.path))
  for (const node of options.Nodes) for (const market of options.Markets) for (const component of COMPONENTS) paths.push(pricePath(node, market, component))
  return paths
}

/**
 * Builds the CAISO driver definition. `deps` is for tests; the package's
 * default export is `createCaisoDriver()`.
 */
export function createCaisoDriver(deps: DriverDeps = {}) {
  const wait = deps.wait ?? sleep
  const stateOf = (ctx: DriverContext, options: CaisoOptions): State => {
    let state = states.get(ctx)
    if (!state) {
      const saved = new Map<string, string>()
      const read = (key: string): unknown => {
        const value = ctx.state.get(key)
        if (value !== undefined) saved.set(key, JSON.stringify(value))
        return value
      }
      state = {
        // streams and files no longer configured are forgotten
        last: restored(read(SAVED.last), streamPaths(options), parseTime),
        fileDay: restored(read(SAVED.days), options.Files, parseYmd),
        marketLatest: restored(read(SAVED.latest), options.Markets, parseTime),
        damAskedAt: undefined,
        oasis: new OasisClient({ baseUrl: options.OasisUrl, now: () => ctx.now(), wait, onThrottle: (m) => ctx.logger.warn(m) }),
        failing: new Map(),
        unknownColumns: new Set(),
        history: new Map(),
        saved,
      }
      states.set(ctx, state)
    }
    return state
  }

  return defineDriver({
    name: 'caiso',
    description: "California ISO grid data: Today's Outlook demand and supply (MW), OASIS locational marginal prices ($/MWh)",
    options: caisoOptionsSchema,

    setup(ctx, options) {
      ctx.setMetadata('/', { 'Location/Country': 'USA', 'Location/Area': 'California', 'Extra/ISOName': 'CAISO' })
      for (const file of options.Files) {
        for (const c of OUTLOOK_COLUMNS[file]) {
          ctx.addTimeseries(c.path, c.path, 'MW', { readingType: 'double', timezone: PACIFIC, description: c.description })
          ctx.setMetadata(c.path, { 'Extra/Type': c.type, 'Extra/Subtype': c.subtype, 'Extra/Source': `${file}.csv`, 'Extra/Column': c.header })
        }
      }
      for (const node of options.Nodes) {
        for (const market of options.Markets) {
          const q = MARKET_QUERIES[market]
          for (const component of COMPONENTS) {
            const path = pricePath(node, market, component)
            ctx.addTimeseries(path, path, '$/MWh', {
              readingType: 'double',
              timezone: PACIFIC,
              description: `${COMPONENT_NAMES[component]} at ${node}, ${q.description} (OASIS ${q.queryname})`,
            })
            ctx.setMetadata(path, { 'Extra/Type': 'price', 'Extra/Subtype': component.toLowerCase(), 'Extra/Node': node, 'Extra/Market': market, 'Extra/Source': q.queryname })
          }
        }
      }
      stateOf(ctx, options)
    },

    start(ctx, options) {
      const state = stateOf(ctx, options)
      ctx.periodic((signal) => poll(ctx, options, state, signal), options.Rate)
    },

    async load(ctx, range, options) {
      await load(ctx, options, stateOf(ctx, options), range)
    },
  })
}

function remember(cache: Map<string, HistoryFile>, url: string, file: HistoryFile): void {
  cache.delete(url)
  cache.set(url, file)
  for (const oldest of cache.keys()) {
    if (cache.size <= HISTORY_CACHE_SIZE) break
    cache.delete(oldest)
  }
}

/**
 * Writes what a new process needs to `ctx.state`, once per poll and only what
 * changed. The host saves it after the readings added so far reach the
 * outboxes, so a crash may repeat readings but never skips any.
 */
function save(ctx: DriverContext, state: State): void {
  const values: Record<string, unknown> = {
    [SAVED.last]: Object.fromEntries(state.last),
    [SAVED.days]: Object.fromEntries([...state.fileDay].map(([file, day]) => [file, formatYmd(day)])),
    [SAVED.latest]: Object.fromEntries(state.marketLatest),
  }
  for (const [key, value] of Object.entries(values)) {
    const json = JSON.stringify(value)
    if (state.saved.get(key) === json || (json === '{}' && !state.saved.has(key))) continue
    ctx.state.set(key, value)
    state.saved.set(key, json)
  }
}

/** Adds the readings newer than the latest already added per stream; `last` is updated. */
function publish(ctx: DriverContext, last: Map<string, number>, readings: OutlookReading[]): void {
  for (const r of readings) {
    for (const { column, value } of r.values) {
      if (r.time > (last.get(column.path) ?? -Infinity)) {
        ctx.add(column.path, r.time, value)
        last.set(column.path, r.time)
      }
    }
  }
}

function publishPrices(ctx: DriverContext, last: Map<string, number>, market: Market, rows: PriceRow[]): void {
  for (const row of rows) {
    const path = pricePath(row.node, market, row.component)
    if (row.time > (last.get(path) ?? -Infinity)) {
      ctx.add(path, row.time, row.value)
      last.set(path, row.time)
    }
  }
}

function noteUnknownColumns(ctx: DriverContext, state: State, table: OutlookTable): void {
  const fresh = table.unknown.filter((h) => !state.unknownColumns.has(`${table.file}\u0000${h}`))
  if (fresh.length === 0) return
  for (const h of fresh) state.unknownColumns.add(`${table.file}\u0000${h}`)
  ctx.logger.info(`${table.file}.csv has columns this driver does not know, ignored: ${fresh.map((h) => JSON.stringify(h)).join(', ')}`)
}

/** One live poll: every Outlook file, then each price market. A failure is reported, never thrown. */
async function poll(ctx: DriverContext, options: CaisoOptions, state: State, signal: AbortSignal): Promise<void> {
  const failed = new Map<string, string>()
  const attempt = async (what: string, fn: () => Promise<void>): Promise<boolean> => {
    try {
      await fn()
      return true
    } catch (err) {
      if (signal.aborted) return false
      failed.set(what, err instanceof Error ? err.message : String(err))
      return !(err instanceof CaisoError && err.code === 'SMAP_CAISO_THROTTLED')
    }
  }
  for (const file of options.Files) {
    await attempt(`${file}.csv`, () => pollOutlook(ctx, options, state, file, signal))
  }
  if (options.Nodes.length > 0) {
    for (const market of options.Markets) {
      // a throttled OASIS is left alone until the next poll
      if (!(await attempt(`OASIS ${market}`, () => pollPrices(ctx, options, state, market, signal)))) break
    }
  }
  // what was added before a stop is worth keeping too
  save(ctx, state)
  if (signal.aborted) return
  for (const [what, message] of failed) if (state.failing.get(what) !== message) ctx.logger.warn(message)
  for (const what of state.failing.keys()) if (!failed.has(what)) ctx.logger.info(`${what} is answering again`)
  state.failing = failed
  ctx.setHealth(failed.size === 0 ? { healthy: true } : { healthy: false, message: [...failed.values()].join('; ') })
}

async function pollOutlook(ctx: DriverContext, options: CaisoOptions, state: State, file: OutlookFile, signal: AbortSignal): Promise<void> {
  const now = ctx.now()
  const url = currentUrl(options.OutlookUrl, file, now)
  const table = parseOutlookCsv(await fetchOutlookFile(url, signal), file, shown(url))
  noteUnknownColumns(ctx, state, table)
  const { date, readings } = dateCurrentFile(table, now)
  const seen = state.fileDay.get(file)
  if (seen && compareDates(seen, date) < 0) {
    // The day turned over since the last poll (at midnight, or while no
    // process ran): the rows of the old days that appeared after that poll
    // are now only in their history files.
    let day = seen
    const earliest = addDays(date, -CATCH_UP_DAYS)
    if (compareDates(day, earliest) < 0) {
      ctx.logger.warn(`${file}.csv was last read for ${formatYmd(seen)}; catching up from ${formatYmd(earliest)} only (import older days with smap load)`)
      day = earliest
    }
    for (; compareDates(day, date) < 0; day = addDays(day, 1)) {
      const old = historyUrl(options.OutlookUrl, file, day, now)
      const table = await readHistory(old, file, signal)
      if ('missing' in table) {
        // said once: the day is given up on below, so no later poll asks for it again
        ctx.logger.warn(`${shown(old)} ${table.missing}: readings of ${formatYmd(day)} after the last poll of that day are missing (import them later with smap load)`)
      } else {
        noteUnknownColumns(ctx, state, table)
        publish(ctx, state.last, datedReadings(table, day))
      }
      // done with that day: a failure on a later one resumes after it
      state.fileDay.set(file, addDays(day, 1))
    }
  }
  if (!seen || compareDates(seen, date) < 0) state.fileDay.set(file, date)
  publish(ctx, state.last, readings)
}

/**
 * A history file as a table, or why there is none: not published (404, 403,
 * an HTML page) or not an Outlook file. Either way waiting will not help, so
 * the caller moves on instead of blocking that file's live data.
 */
async function readHistory(url: string, file: OutlookFile, signal: AbortSignal): Promise<OutlookTable | { missing: string }> {
  const answer = await fetchHistoryFile(url, signal)
  if ('missing' in answer) return answer
  return tableOrMissing(answer.csv, file, url)
}

function tableOrMissing(csv: string, file: OutlookFile, url: string): OutlookTable | { missing: string } {
  try {
    return parseOutlookCsv(csv, file, shown(url))
  } catch (err) {
    if (err instanceof CaisoError && err.code === 'SMAP_CAISO_FORMAT') return { missing: `is not a Today's Outlook file (${err.message})` }
    throw err
  }
}

async function pollPrices(ctx: DriverContext, options: CaisoOptions, state: State, market: Market, signal: AbortSignal): Promise<void> {
  const now = ctx.now()
  const today = localDate(now)
  const latest = state.marketLatest.get(market)
  let start: number
  let end: number
  // after downtime, back to the hour after the latest price seen (within CATCH_UP_DAYS)
  const catchUp = startOfDay(addDays(today, -CATCH_UP_DAYS))
  if (market === 'DAM') {
    // today's and, once published (early afternoon Pacific), tomorrow's hours
    start = startOfDay(today)
    if (latest !== undefined && latest + HOUR < start) start = Math.max(latest + HOUR, catchUp)
    end = startOfDay(addDays(today, 2))
    const complete = latest !== undefined && latest >= end - HOUR
    if (state.damAskedAt !== undefined && (now - state.damAskedAt < DAM_REFRESH_MS || complete)) return
  } else {
    const step = MARKET_QUERIES[market].intervalMs
    end = Math.ceil(now / step) * step + step
    start = latest === undefined ? startOfDay(today) : latest - RTM_OVERLAP_MS
    start = Math.max(start, catchUp, end - MAX_WINDOW_MS)
  }
  const rows = await state.oasis.prices(market, options.Nodes, start, end, signal)
  if (market === 'DAM') state.damAskedAt = now
  publishPrices(ctx, state.last, market, rows)
  const newest = rows.at(-1)?.time
  if (newest !== undefined && newest > (latest ?? -Infinity)) state.marketLatest.set(market, newest)
}

/**
 * Imports `[start, end)`: each Pacific day's Outlook history files (today's
 * current file for today), then OASIS prices in windows of at most 30 days,
 * one request per 5 s. Readings go out with their own times, once each.
 */
async function load(ctx: DriverContext, options: CaisoOptions, state: State, range: LoadRange): Promise<void> {
  const { start, end } = range
  if (!Number.isFinite(start) || !Number.isFinite(end) || !(start < end)) {
    throw new CaisoError('SMAP_CAISO_RANGE', `cannot import CAISO history from ${String(start)} to ${String(end)}: expected Unix ms with start before end`)
  }
  const signal = ctx.signal
  const last = new Map<string, number>()
  const inRange = (t: number): boolean => t >= start && t < end

  if (options.Files.length > 0) {
    const now = ctx.now()
    const today = localDate(now)
    const lastDay = localDate(end - 1)
    for (let day = localDate(start); compareDates(day, lastDay) <= 0 && compareDates(day, today) <= 0; day = addDays(day, 1)) {
      const isToday = compareDates(day, today) === 0
      for (const file of options.Files) {
        signal.throwIfAborted()
        const url = isToday ? currentUrl(options.OutlookUrl, file, now) : historyUrl(options.OutlookUrl, file, day, now)
        let answer: HistoryFile
        if (isToday) answer = { csv: await fetchOutlookFile(url, signal) }
        else {
          const cached = state.history.get(shown(url))
          answer = cached ?? (await fetchHistoryFile(url, signal))
          remember(state.history, shown(url), answer)
          // asked once and said once, for the two chunks a Pacific day spans
          if (cached && 'missing' in cached) continue
        }
        const table = 'missing' in answer ? answer : tableOrMissing(answer.csv, file, url)
        if ('missing' in table) {
          if (!isToday) remember(state.history, shown(url), table)
          ctx.logger.warn(`no ${file}.csv for ${formatYmd(day)}: ${shown(url)} ${table.missing}; that day's ${file} is skipped`)
          continue
        }
        noteUnknownColumns(ctx, state, table)
        const readings = isToday ? dateCurrentFile(table, now).readings : datedReadings(table, day)
        publish(ctx, last, readings.filter((r) => inRange(r.time)))
      }
    }
  }

  if (options.Nodes.length > 0) {
    // OASIS takes whole minutes
    const from = Math.floor(start / MINUTE) * MINUTE
    const to = Math.ceil(end / MINUTE) * MINUTE
    const settled = ctx.now() - HOUR
    for (const market of options.Markets) {
      let added = 0
      const empty: string[] = []
      for (const w of splitWindows(from, to)) {
        signal.throwIfAborted()
        const { rows, noData } = await state.oasis.query(market, options.Nodes, w.start, w.end, signal, LOAD_RETRIES)
        const kept = rows.filter((r) => inRange(r.time))
        publishPrices(ctx, last, market, kept)
        added += kept.length
        // a past window always has prices; "no data" for one means OASIS no longer serves it (or the node had none then)
        if (w.end <= settled) for (const n of noData) empty.push(`${new Date(w.start).toISOString()} to ${new Date(w.end).toISOString()} (${shown(n.url)}: error 1000, ${JSON.stringify(n.description)})`)
      }
      if (empty.length === 0) continue
      const q = MARKET_QUERIES[market]
      const what = `OASIS has no ${q.queryname} prices (${market}) for ${options.Nodes.join(', ')}`
      const hint = 'OASIS no longer serves prices that old (or the node had none then); import a later range, or check the node names'
      if (added === 0) throw new CaisoError('SMAP_CAISO_NO_DATA', `${what} from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}: ${empty.join('; ')}. ${hint}`)
      for (const e of empty) ctx.logger.warn(`${what} from ${e}; ${hint}`)
    }
  }
}
