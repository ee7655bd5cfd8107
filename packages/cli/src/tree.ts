import { SmapError } from '@smap/core'
import { defineCommand } from 'citty'
import { UsageError } from './commands.js'

const TIMEOUT_MS = 10_000

type Reading = [number, unknown, ...unknown[]]
interface ResourceObject {
  uuid?: unknown
  Contents?: unknown
  Properties?: { UnitofMeasure?: unknown }
  Metadata?: { SourceName?: unknown }
  Readings?: unknown
  Actuator?: { Model?: unknown; Values?: unknown; MinValue?: unknown; MaxValue?: unknown; StepSize?: unknown }
}
interface ReportObject {
  ReportResource?: unknown
  ReportDeliveryLocation?: unknown
  Format?: unknown
  MinPeriod?: unknown
  MaxPeriod?: unknown
  ExpireTime?: unknown
}
/** What `/reports` showed: the subscriptions, or why they cannot be seen. */
type Reports = { visible: true; list: Array<{ uuid: string; report?: ReportObject; problem?: string }> } | { visible: false; why: string }

export const treeCommand = defineCommand({
  meta: { name: 'tree', description: 'Show a running source: its collections, the latest reading of each stream, and its reports' },
  args: {
    url: { type: 'positional', description: 'the source, e.g. http://127.0.0.1:8080 (a URL ending in /data/PATH shows that part)', required: true },
  },
  async run({ args }) {
    const { base, sub } = parseSourceUrl(args.url)
    const [tree, reports] = await Promise.all([getTree(base, sub), getReports(base)])
    process.stdout.write(renderTree(base, sub, tree, reports, Date.now()))
  },
})

/** Splits `http://host:8080/data/a/b` into the source's base URL and the resource path. */
function parseSourceUrl(given: string): { base: string; sub: string } {
  let url: URL
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(given) ? given : `http://${given}`)
  } catch {
    throw new UsageError(`"${given}" is not a URL; expected a source like http://127.0.0.1:8080`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`"${given}" must be an http:// or https:// URL`)
  const m = /^(.*?)\/data(\/.*)?$/.exec(url.pathname)
  const prefix = (m ? m[1] : url.pathname) ?? ''
  const sub = (m?.[2] ?? '/').replace(/\/+$/, '') || '/'
  return { base: `${url.origin}${prefix.replace(/\/+$/, '')}`, sub }
}

/** GETs a URL; resolves with its status and parsed JSON, or throws a SmapError naming the URL. */
async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  let res: Response
  try {
    res = await fetch(url, { headers: { Accept: 'application/json' }, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) })
  } catch (err) {
    throw new SmapError('SMAP_TREE_UNREACHABLE', `cannot reach ${url}: ${describeFetchError(err)}`, { cause: err })
  }
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location')
    throw new SmapError('SMAP_TREE_REDIRECT', `${url} answered ${res.status} redirecting to ${location ?? '?'}; redirects are not followed, give smap tree the source's own URL`)
  }
  const text = await res.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    const type = res.headers.get('content-type')?.split(';')[0] ?? 'no content type'
    const what = `${res.status}${res.statusText ? ` ${res.statusText}` : ''}`
    throw new SmapError('SMAP_TREE_NOT_JSON', `${url} answered ${what} with ${type}${excerpt(text)}, not JSON; is it an sMAP source?`)
  }
  return { status: res.status, body }
}

/** Why a fetch failed, in words (`connection refused (is the source running?)`). */
export function describeFetchError(err: unknown, timeoutMs = TIMEOUT_MS): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } }
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`
  const code = e.cause?.code
  if (code === 'ECONNREFUSED') return 'connection refused (is the source running?)'
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found'
  return e.cause?.message ?? e.message ?? String(err)
}

function excerpt(text: string): string {
  const line = text.trim().split('\n')[0] ?? ''
  if (line === '') return ''
  return ` "${line.length > 60 ? `${line.slice(0, 60)}…` : line}"`
}

/** The error an sMAP source gives in a JSON body, else the status. */
function reason(status: number, body: unknown): string {
  const error = (body as { error?: unknown } | null)?.error
  return typeof error === 'string' ? `${status}: ${error}` : String(status)
}

async function getTree(base: string, sub: string): Promise<Map<string, ResourceObject>> {
  const url = `${base}/data${sub === '/' ? '' : sub}/+`
  const { status, body } = await getJson(url)
  if (status !== 200) throw new SmapError('SMAP_TREE_HTTP', `${url} answered ${reason(status, body)}`)
  if (body === null || typeof body !== 'object' || Array.isArray(body) || Object.values(body).some((v) => v === null || typeof v !== 'object')) {
    throw new SmapError('SMAP_TREE_NOT_SMAP', `${url} answered JSON that is not an sMAP tree (an object keyed by path); is it an sMAP source?`)
  }
  const tree = new Map<string, ResourceObject>()
  // keys are relative to the resource asked for
  for (const [rel, obj] of Object.entries(body)) tree.set(sub === '/' ? rel : rel === '/' ? sub : `${sub}${rel}`, obj as ResourceObject)
  return tree
}

async function getReports(base: string): Promise<Reports> {
  const url = `${base}/reports`
  let answer: { status: number; body: unknown }
  try {
    answer = await getJson(url)
  } catch (err) {
    return { visible: false, why: (err as Error).message }
  }
  const { status, body } = answer
  if (status === 403) return { visible: false, why: `the source refused (${reason(status, body)})` }
  if (status !== 200) return { visible: false, why: `${url} answered ${reason(status, body)}` }
  const contents = (body as { Contents?: unknown } | null)?.Contents
  if (!Array.isArray(contents)) return { visible: false, why: `${url} answered JSON without a Contents list` }
  const list = await Promise.all(
    contents.map(async (uuid: unknown) => {
      const id = String(uuid)
      try {
        const one = await getJson(`${url}/${encodeURIComponent(id)}`)
        if (one.status !== 200) return { uuid: id, problem: `cannot read it: ${reason(one.status, one.body)}` }
        return { uuid: id, report: one.body as ReportObject }
      } catch (err) {
        return { uuid: id, problem: `cannot read it: ${(err as Error).message}` }
      }
    }),
  )
  return { visible: true, list }
}

/** Compares paths segment by segment, so a collection comes right before what it holds. */
function comparePaths(a: string, b: string): number {
  const sa = a.split('/').filter(Boolean)
  const sb = b.split('/').filter(Boolean)
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const x = sa[i] as string
    const y = sb[i] as string
    if (x !== y) return x < y ? -1 : 1
  }
  return sa.length - sb.length
}

function renderTree(base: string, sub: string, tree: Map<string, ResourceObject>, reports: Reports, now: number): string {
  const lines: string[] = []
  const rows: Array<[string, string, string]> = []
  let streams = 0
  let collections = 0
  for (const path of [...tree.keys()].sort(comparePaths)) {
    const obj = tree.get(path) as ResourceObject
    if (Array.isArray(obj.Contents) && obj.Readings === undefined) {
      collections++
      rows.push([path, 'collection', ''])
      continue
    }
    streams++
    const unit = typeof obj.Properties?.UnitofMeasure === 'string' ? obj.Properties.UnitofMeasure : undefined
    const readings = Array.isArray(obj.Readings) ? (obj.Readings.filter((r) => Array.isArray(r) && typeof r[0] === 'number') as Reading[]) : []
    const latest = readings.reduce<Reading | undefined>((a, r) => (a === undefined || r[0] >= a[0] ? r : a), undefined)
    if (latest === undefined) {
      rows.push([path, obj.Actuator ? `no readings  [${actuatorText(obj.Actuator)}]` : 'no readings', ''])
      continue
    }
    const value = typeof latest[1] === 'string' ? JSON.stringify(latest[1]) : stateText(obj.Actuator, latest[1])
    const shown = `${unit === undefined ? value : `${value} ${unit}`}${obj.Actuator ? `  [${actuatorText(obj.Actuator)}]` : ''}`
    rows.push([path, shown, `${iso(latest[0])} (${ago(now - latest[0])})`])
  }
  const sourceName = tree.get(sub)?.Metadata?.SourceName
  const what = `${plural(collections, 'collection')}, ${plural(streams, 'timeseries', 'timeseries')}`
  lines.push(`${base}/data${sub === '/' ? '' : sub}${typeof sourceName === 'string' ? ` (${sourceName})` : ''}: ${what}`, '')
  lines.push(...table(rows), '')

  if (!reports.visible) lines.push(`reports: not visible; ${reports.why}`)
  else if (reports.list.length === 0) lines.push('reports: none')
  else {
    lines.push(`${plural(reports.list.length, 'report')}:`, '')
    const rrows: Array<[string, string, string]> = reports.list.map(({ uuid, report, problem }) => {
      if (report === undefined) return [uuid, '', problem ?? '']
      const locations = Array.isArray(report.ReportDeliveryLocation) ? report.ReportDeliveryLocation.map(String) : [String(report.ReportDeliveryLocation ?? '?')]
      return [uuid, String(report.ReportResource ?? '?'), `-> ${locations.join(', ')}${reportOptions(report, now)}`]
    })
    lines.push(...table(rrows))
  }
  return `${lines.join('\n')}\n`
}

/** An actuator's model in a few words: `writable: continuous 10..30 step 0.5`. */
function actuatorText(a: NonNullable<ResourceObject['Actuator']>): string {
  const model = String(a.Model ?? '?')
  if (model === 'binary') return 'writable: binary 0/1'
  if (model === 'discrete') return `writable: discrete ${Array.isArray(a.Values) ? a.Values.map(String).join('|') : '?'}`
  return `writable: ${model} ${String(a.MinValue)}..${String(a.MaxValue)}${a.StepSize === undefined ? '' : ` step ${String(a.StepSize)}`}`
}

/** A reading as the state it stands for: a discrete point's value name, a binary point's on/off. */
function stateText(a: ResourceObject['Actuator'], value: unknown): string {
  if (a?.Model === 'discrete' && Array.isArray(a.Values) && typeof value === 'number' && a.Values[value] !== undefined) return String(a.Values[value])
  if (a?.Model === 'binary' && (value === 0 || value === 1)) return `${value} (${value === 1 ? 'on' : 'off'})`
  return String(value)
}

/** The options of a report that differ from the defaults, e.g. ` (gzip-json, MinPeriod 5 s)`. */
function reportOptions(r: ReportObject, now: number): string {
  const notes: string[] = []
  if (r.Format !== undefined && r.Format !== 'json') notes.push(String(r.Format))
  if (typeof r.MinPeriod === 'number' && r.MinPeriod > 0) notes.push(`MinPeriod ${r.MinPeriod} s`)
  if (typeof r.MaxPeriod === 'number') notes.push(`MaxPeriod ${r.MaxPeriod} s`)
  if (typeof r.ExpireTime === 'number') notes.push(`expires ${iso(r.ExpireTime)} (${ago(now - r.ExpireTime)})`)
  return notes.length === 0 ? '' : ` (${notes.join(', ')})`
}

/** Rows as columns padded to their widest cell, two spaces apart, indented by two. */
function table(rows: Array<[string, string, string]>): string[] {
  const w0 = Math.max(0, ...rows.map((r) => r[0].length))
  const w1 = Math.max(0, ...rows.map((r) => r[1].length))
  return rows.map(([a, b, c]) => `  ${a.padEnd(w0)}  ${c === '' ? b : `${b.padEnd(w1)}  ${c}`}`.trimEnd())
}

function iso(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}

/** `5 s ago`, `3 min ago`, `in 2 h` for a time difference in ms (positive is past). */
function ago(diffMs: number): string {
  const s = Math.abs(diffMs) / 1000
  const span = s < 90 ? `${Math.round(s)} s` : s < 90 * 60 ? `${Math.round(s / 60)} min` : s < 48 * 3600 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`
  return diffMs >= 0 ? `${span} ago` : `in ${span}`
}

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`
}
