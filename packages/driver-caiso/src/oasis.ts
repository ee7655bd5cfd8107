import { parse } from 'csv-parse/sync'
import { unzipSync } from 'fflate'
import { get, isHtml, text, type HttpAnswer } from './_http.js'
import { DAY, formatOasisTime, HOUR, MINUTE } from './_time.js'
import { CaisoError } from './errors.js'

/** The price markets: day-ahead hourly and real-time 5-minute LMPs. */
export const MARKETS = ['DAM', 'RTM'] as const
export type Market = (typeof MARKETS)[number]

/**
 * How each market is asked of OASIS: the report versions current parsers ask
 * for (PRC_LMP v12 prices in `MW`, PRC_INTVL_LMP v3 in `VALUE`).
 */
export const MARKET_QUERIES: Record<Market, { queryname: string; marketRunId: string; version: string; intervalMs: number; description: string }> = {
  DAM: { queryname: 'PRC_LMP', marketRunId: 'DAM', version: '12', intervalMs: HOUR, description: 'day-ahead market, hourly' },
  RTM: { queryname: 'PRC_INTVL_LMP', marketRunId: 'RTM', version: '3', intervalMs: 5 * MINUTE, description: 'real-time market, 5-minute' },
}

/** The LMP and its components, as OASIS names them in `LMP_TYPE`. */
export const COMPONENTS = ['LMP', 'MCE', 'MCC', 'MCL', 'MGHG'] as const
export type Component = (typeof COMPONENTS)[number]

export const COMPONENT_NAMES: Record<Component, string> = {
  LMP: 'locational marginal price',
  MCE: 'marginal cost of energy',
  MCC: 'marginal cost of congestion',
  MCL: 'marginal cost of losses',
  MGHG: 'marginal cost of greenhouse gas',
}

/** Driver-relative path (and key) of a price stream, e.g. `/lmp/TH_SP15_GEN-APND/rtm/lmp`. */
export function pricePath(node: string, market: Market, component: Component): string {
  return `/lmp/${node}/${market.toLowerCase()}/${component.toLowerCase()}`
}

/** OASIS takes at most this many nodes in one request's `node` list. */
export const MAX_NODES = 10
/** OASIS answers at most this much time per request. */
export const MAX_WINDOW_MS = 30 * DAY
/** OASIS allows at most one request per this long. */
export const REQUEST_GAP_MS = 5_000
/** After a throttle page, wait this long (doubling on each retry) before asking again. */
export const THROTTLE_BACKOFF_MS = 30_000

/** Splits `[start, end)` into consecutive windows of at most `max` ms. */
export function splitWindows(start: number, end: number, max: number = MAX_WINDOW_MS): Array<{ start: number; end: number }> {
  const out: Array<{ start: number; end: number }> = []
  for (let s = start; s < end; s += max) out.push({ start: s, end: Math.min(s + max, end) })
  return out
}

/** The SingleZip URL for a market's LMPs at `nodes` over `[start, end)`, CSV answer (`resultformat=6`). */
export function oasisUrl(base: string, market: Market, nodes: readonly string[], start: number, end: number): string {
  const q = MARKET_QUERIES[market]
  const params = new URLSearchParams({
    queryname: q.queryname,
    market_run_id: q.marketRunId,
    startdatetime: formatOasisTime(start),
    enddatetime: formatOasisTime(end),
    version: q.version,
    node: nodes.join(','),
    resultformat: '6',
  })
  return `${base}/SingleZip?${params.toString()}`
}

/** One price: a node's LMP component for the interval starting at `time`. */
export interface PriceRow {
  time: number
  node: string
  component: Component
  value: number
}

/** What an OASIS answer meant: prices, "no data" (error 1000, with its description), or throttling. */
export type OasisResult = { kind: 'rows'; rows: PriceRow[] } | { kind: 'none'; description: string } | { kind: 'throttled'; status: number }

/** Splits a node list into the lists of at most `MAX_NODES` that one request takes. */
export function nodeGroups(nodes: readonly string[], max: number = MAX_NODES): string[][] {
  const out: string[][] = []
  for (let i = 0; i < nodes.length; i += max) out.push(nodes.slice(i, i + max))
  return out
}

const isZip = (b: Uint8Array): boolean => b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b // "PK"

/**
 * Reads an OASIS answer. Data, errors and "no data" all come as ZIPs (even
 * under HTTP 200): a CSV, or an XML report whose `ERR_CODE` 1000 means no
 * data: for a window not published yet, but also for one OASIS no longer serves. Throttling comes as an HTML page (429 or 200).
 * Other errors throw a `CaisoError` with OASIS's code and description.
 */
export function readOasisAnswer(answer: HttpAnswer): OasisResult {
  const body = answer.body
  if (!isZip(body)) {
    if (answer.status === 429 || isHtml(answer)) return { kind: 'throttled', status: answer.status }
    if (answer.status !== 200) throw new CaisoError('SMAP_CAISO_HTTP', `OASIS answered HTTP ${answer.status} to ${answer.url}`)
    throw new CaisoError('SMAP_CAISO_FORMAT', `OASIS answered ${answer.url} with neither a ZIP nor an HTML page: ${JSON.stringify(text(body.subarray(0, 80)))}`)
  }
  let files: Record<string, Uint8Array>
  try {
    files = unzipSync(body)
  } catch (err) {
    throw new CaisoError('SMAP_CAISO_FORMAT', `OASIS answered ${answer.url} with a damaged ZIP: ${(err as Error).message}`, { cause: err })
  }
  const names = Object.keys(files)
  const csvs = names.filter((n) => n.toLowerCase().endsWith('.csv'))
  if (csvs.length > 0) return { kind: 'rows', rows: dedupe(csvs.flatMap((n) => parseOasisCsv(text(files[n] as Uint8Array), n))) }
  const xml = names.find((n) => n.toLowerCase().endsWith('.xml'))
  if (xml !== undefined) {
    const report = text(files[xml] as Uint8Array)
    const code = element(report, 'ERR_CODE')
    if (code === '1000') return { kind: 'none', description: element(report, 'ERR_DESC') ?? 'No data returned' }
    if (code !== undefined) {
      throw new CaisoError('SMAP_CAISO_OASIS', `OASIS error ${code} for ${answer.url}: ${element(report, 'ERR_DESC') ?? 'no description'}`)
    }
    throw new CaisoError('SMAP_CAISO_FORMAT', `OASIS answered ${answer.url} with an XML report (${xml}) that holds no data and no ERR_CODE`)
  }
  throw new CaisoError('SMAP_CAISO_FORMAT', `OASIS answered ${answer.url} with a ZIP that holds no CSV or XML file (${names.join(', ') || 'it is empty'})`)
}

/** The text of the first `<m:NAME>` (any namespace prefix) in an OASIS XML report. */
function element(xml: string, name: string): string | undefined {
  const m = new RegExp(`<(?:[\\w.-]+:)?${name}>\\s*([^<]*?)\\s*</`).exec(xml)
  return m?.[1]
}

/**
 * Parses an OASIS LMP CSV by header name: `INTERVALSTARTTIME_GMT`, `NODE`,
 * `LMP_TYPE` and the price in `MW` (PRC_LMP) or `VALUE` (PRC_INTVL_LMP).
 */
export function parseOasisCsv(csv: string, where: string): PriceRow[] {
  let records: string[][]
  try {
    records = parse(csv, { bom: true, relax_column_count: true, skip_empty_lines: true, trim: true }) as string[][]
  } catch (err) {
    throw new CaisoError('SMAP_CAISO_FORMAT', `OASIS file ${where} is not valid CSV: ${(err as Error).message}`, { cause: err })
  }
  const [header, ...data] = records
  const names = (header ?? []).map((h) => h.toUpperCase())
  const find = (...candidates: string[]): number => {
    for (const c of candidates) {
      const i = names.indexOf(c)
      if (i !== -1) return i
    }
    return -1
  }
  const time = find('INTERVALSTARTTIME_GMT', 'INTERVAL_START_GMT')
  const node = find('NODE', 'NODE_ID', 'NODE_ID_XML')
  const type = find('LMP_TYPE')
  const value = find('MW', 'VALUE', 'PRC')
  if (time === -1 || node === -1 || type === -1 || value === -1) {
    throw new CaisoError(
      'SMAP_CAISO_FORMAT',
      `OASIS file ${where} lacks a needed column (INTERVALSTARTTIME_GMT, NODE, LMP_TYPE and MW or VALUE); its header is ${JSON.stringify((header ?? []).join(','))}`,
    )
  }
  const out: PriceRow[] = []
  for (const cells of data) {
    const component = (cells[type] ?? '').toUpperCase() as Component
    if (!COMPONENTS.includes(component)) continue
    const t = Date.parse(cells[time] ?? '')
    const cell = cells[value] ?? ''
    const v = Number(cell)
    if (!Number.isFinite(t) || cell === '' || !Number.isFinite(v)) continue
    out.push({ time: t, node: cells[node] ?? '', component, value: v })
  }
  return out
}

/** Rows arrive unordered and possibly repeated: one per node, component and time, in time order. */
function dedupe(rows: PriceRow[]): PriceRow[] {
  const seen = new Set<string>()
  const out = rows.filter((r) => {
    const k = `${r.node}\u0000${r.component}\u0000${r.time}`
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
  return out.sort((a, b) => a.time - b.time)
}

/** What an `OasisClient` needs from its host. */
export interface OasisClientOptions {
  /** The OASIS API base, e.g. `https://oasis.caiso.com/oasisapi`. */
  baseUrl: string
  /** The clock (Unix ms) that spaces requests. */
  now: () => number
  /** Waits `ms`; rejects when `signal` fires. */
  wait: (ms: number, signal: AbortSignal) => Promise<void>
  /** Told when OASIS throttles and the client waits to retry. */
  onThrottle?: (message: string) => void
  /** Least time between two requests (default 5 s, OASIS's limit). */
  gapMs?: number
}

/** Asks OASIS for LMPs, one request at a time and at most one per 5 seconds. */
export class OasisClient {
  readonly #o: OasisClientOptions
  /** The earliest time of the next request. */
  #next = -Infinity
  /** The time of the last request: the clock is never taken to be before it. */
  #last = -Infinity

  constructor(options: OasisClientOptions) {
    this.#o = options
  }

  /** Waits for the next request slot and takes it; resolves to the slot's time. */
  async #turn(signal: AbortSignal): Promise<number> {
    const now = Math.max(this.#o.now(), this.#last)
    const at = Math.max(now, this.#next)
    if (at > now) await this.#o.wait(at - now, signal)
    signal.throwIfAborted()
    this.#last = at
    this.#next = at + (this.#o.gapMs ?? REQUEST_GAP_MS)
    return at
  }

  /**
   * The prices of `market` at `nodes` over `[start, end)` (one window of at
   * most 30 days), in one request per 10 nodes. A throttle page is retried
   * `retries` times, waiting 30 s, 60 s, ... first; then it throws
   * `SMAP_CAISO_THROTTLED`.
   */
  async prices(market: Market, nodes: readonly string[], start: number, end: number, signal: AbortSignal, retries = 0): Promise<PriceRow[]> {
    return (await this.query(market, nodes, start, end, signal, retries)).rows
  }

  /**
   * As `prices`, and which requests OASIS answered with "no data" (error
   * 1000): `noData` holds each one's URL and OASIS's description.
   */
  async query(market: Market, nodes: readonly string[], start: number, end: number, signal: AbortSignal, retries = 0): Promise<{ rows: PriceRow[]; noData: Array<{ url: string; description: string }> }> {
    if (end - start > MAX_WINDOW_MS) throw new RangeError(`an OASIS window is at most 30 days; split ${end - start} ms with splitWindows()`)
    const rows: PriceRow[] = []
    const noData: Array<{ url: string; description: string }> = []
    for (const group of nodeGroups(nodes)) {
      const url = oasisUrl(this.#o.baseUrl, market, group, start, end)
      const result = await this.#ask(url, signal, retries)
      if (result.kind === 'none') noData.push({ url, description: result.description })
      else rows.push(...result.rows.filter((r) => r.time >= start && r.time < end && group.includes(r.node)))
    }
    return { rows: nodes.length > MAX_NODES ? dedupe(rows) : rows, noData }
  }

  /** One request, in its turn, retried while throttled. */
  async #ask(url: string, signal: AbortSignal, retries: number): Promise<Exclude<OasisResult, { kind: 'throttled' }>> {
    for (let attempt = 0; ; attempt++) {
      const at = await this.#turn(signal)
      const result = readOasisAnswer(await get(url, signal))
      if (result.kind !== 'throttled') return result
      const pause = THROTTLE_BACKOFF_MS * 2 ** attempt
      const what = `OASIS is throttling requests (HTTP ${result.status} with an HTML page)`
      if (attempt >= retries) {
        this.#next = Math.max(this.#next, at + pause)
        throw new CaisoError('SMAP_CAISO_THROTTLED', `${what} for ${url}; gave up after ${attempt + 1} ${attempt === 0 ? 'try' : 'tries'}, asking again in ${pause / 1000} s at the earliest`)
      }
      this.#o.onThrottle?.(`${what}; asking again in ${pause / 1000} s`)
      this.#next = Math.max(this.#next, at + pause)
    }
  }
}
