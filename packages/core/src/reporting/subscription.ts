import { isIP } from 'node:net'
import { reportSchema, type Report } from '@smap/sdk'
import { smapError } from '../errors.js'
import { isWithin, normalizePath, parentPath } from '../tree/path.js'

/** Readings kept per stream per subscriber while undelivered, unless the report says otherwise. */
export const DEFAULT_MAX_BUFFER = 10_000

/** The shortest MaxPeriod, seconds: a keepalive more often than this is a flood. */
export const MIN_MAX_PERIOD = 0.1

/** Subscriptions a source takes unless `[server] MaxSubscriptions` says otherwise. */
export const DEFAULT_MAX_SUBSCRIPTIONS = 100

/** A subscription, normalized. */
export interface ReportConfig {
  uuid: string
  ReportResource: string
  ReportDeliveryLocation: string[]
  MinPeriod: number
  MaxPeriod: number | undefined
  ExpireTime: number | undefined
  Format: 'json' | 'gzip-json' | 'legacy-gzip-json'
  Delivery: 'failover' | 'fanout'
  MaxBuffer: number
}

/** Where delivery locations may point. */
export interface LocationPolicy {
  /** If set, only these host names (or addresses) are allowed. */
  allowedHosts?: string[]
  /** Allow link-local addresses (169.254.0.0/16, fe80::/10), where cloud metadata services live. */
  allowLinkLocal?: boolean
}

/** Where a subscription came from. */
export type ReportOrigin = 'config' | 'http'

/** One subscription: its config and where it came from. */
export interface Subscription {
  readonly config: ReportConfig
  readonly origin: ReportOrigin
  /** `conf.ini:12` for one from a config. */
  readonly where: string | undefined
  /** Its section name, `report 0`, for one from a config. */
  readonly name: string | undefined
}

/** `path: message; ...` for zod's issues, `body` standing for the whole. */
export function describeIssues(issues: ReadonlyArray<{ path: readonly PropertyKey[]; message: string }>): string {
  return issues.map((i) => `${i.path.map(String).join('.') || 'body'}: ${i.message}`).join('; ')
}

/** A subscription's body checked against the wire schema, or `SMAP_REPORT_INVALID` saying what is wrong. */
export function parseReport(body: unknown): Report {
  const parsed = reportSchema.safeParse(body)
  if (!parsed.success) throw smapError('SMAP_REPORT_INVALID', `invalid report: ${describeIssues(parsed.error.issues)}`)
  const report = parsed.data
  if (typeof report.ExpireTime === 'number') report.ExpireTime = expireTimeMs(report.ExpireTime)
  return report
}

/**
 * Below this an ExpireTime is Unix seconds, as the original sMAP sends it
 * (in milliseconds it would be before March 1973); from it on, Unix milliseconds.
 */
export const EXPIRE_SECONDS_BELOW = 100_000_000_000

/** An ExpireTime in either unit, as Unix milliseconds. */
export function expireTimeMs(t: number): number {
  return t < EXPIRE_SECONDS_BELOW ? t * 1000 : t
}

/** Checks a delivery location: http(s), allowed host, no link-local address unless allowed. Returns the problem or undefined. */
export function checkLocation(location: string, policy: LocationPolicy = {}): string | undefined {
  let url: URL
  try {
    url = new URL(location)
  } catch {
    return `"${location}" is not a URL; expected one like http://archiver:8079/add`
  }
  if (!['http:', 'https:', 'mqtt:', 'mqtts:'].includes(url.protocol)) return `"${location}" must be an http:// or https:// URL, or a broker's mqtt:// or mqtts:// URL with a topic prefix`
  if ((url.protocol === 'mqtt:' || url.protocol === 'mqtts:') && (url.username || url.password)) return `"${location.replace(/\/\/[^@/]*@/, '//***@')}" has a user or password in it (not repeated here): credentials never go in a location; give them in a [broker] section`
  if ((url.protocol === 'mqtt:' || url.protocol === 'mqtts:') && (/[#+]/.test(decodeURIComponent(url.pathname)) || location.includes('#'))) return `"${location}": a topic prefix cannot hold the wildcards # or +`
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (policy.allowedHosts && policy.allowedHosts.length > 0 && !policy.allowedHosts.some((h) => h.toLowerCase() === host)) {
    return `"${location}": host ${host} is not in ReportHosts (${policy.allowedHosts.join(', ')})`
  }
  if (!policy.allowLinkLocal && isLinkLocal(host)) {
    return `"${location}" points at a link-local address (where cloud metadata services answer); set AllowLinkLocal = true in [server] if you mean it`
  }
  return undefined
}

/** Whether an address is link-local or a cloud metadata service's, in any of the ways an IPv6 address can carry an IPv4 one. */
export function isLinkLocal(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('169.254.')
  if (isIP(host) !== 6) return false
  const g = ipv6Groups(host)
  if (!g) return false
  if (((g[0] as number) & 0xffc0) === 0xfe80) return true // fe80::/10
  // AWS's metadata service over IPv6
  if (g.join(':') === [0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254].join(':')) return true
  // an IPv4 address in the last 32 bits: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d, 64:ff9b:1::/48)
  const zeros = (from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0)
  const embeds = (zeros(0, 5) && (g[5] === 0xffff || g[5] === 0)) || (g[0] === 0x64 && g[1] === 0xff9b && zeros(2, 6)) || (g[0] === 0x64 && g[1] === 0xff9b && g[2] === 1)
  return embeds && g[6] === 0xa9fe
}

/** The eight 16-bit groups of an IPv6 address (dotted IPv4 tail included), or undefined. */
function ipv6Groups(host: string): number[] | undefined {
  let text = host.toLowerCase().replace(/%.*$/, '')
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text)
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number]
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail, ...more] = text.split('::')
  if (more.length > 0) return undefined
  const left = head ? head.split(':') : []
  const right = tail === undefined ? [] : tail ? tail.split(':') : []
  const fill = tail === undefined ? 0 : 8 - left.length - right.length
  const groups = [...left, ...Array<string>(Math.max(0, fill)).fill('0'), ...right].map((x) => parseInt(x, 16))
  return groups.length === 8 && groups.every((x) => x >= 0 && x <= 0xffff) ? groups : undefined
}

/** Normalizes a subscription, throwing a SmapError that names the problem. */
export function normalizeReport(report: Report, uuid: string, policy: LocationPolicy): ReportConfig {
  const locations = typeof report.ReportDeliveryLocation === 'string' ? [report.ReportDeliveryLocation] : report.ReportDeliveryLocation
  for (const l of locations) {
    const problem = checkLocation(l, policy)
    if (problem) throw smapError('SMAP_REPORT_LOCATION', `ReportDeliveryLocation ${problem}`)
  }
  const plus = report.ReportResource.trim().endsWith('/+')
  const base = normalizePath(plus ? report.ReportResource.trim().slice(0, -2) : report.ReportResource)
  if (report.MaxPeriod !== undefined && report.MaxPeriod < MIN_MAX_PERIOD) {
    throw smapError('SMAP_REPORT_INVALID', `MaxPeriod (${report.MaxPeriod} s) must be at least ${MIN_MAX_PERIOD} s: it sends an empty report that often`)
  }
  if (report.MaxPeriod !== undefined && report.MinPeriod !== undefined && report.MaxPeriod < report.MinPeriod) {
    throw smapError('SMAP_REPORT_INVALID', `MaxPeriod (${report.MaxPeriod} s) must not be less than MinPeriod (${report.MinPeriod} s)`)
  }
  return {
    uuid,
    ReportResource: plus ? (base === '/' ? '/+' : `${base}/+`) : base,
    ReportDeliveryLocation: locations,
    MinPeriod: report.MinPeriod ?? 0,
    MaxPeriod: report.MaxPeriod,
    ExpireTime: report.ExpireTime ?? undefined,
    Format: report.Format ?? 'json',
    Delivery: report.Delivery ?? 'failover',
    MaxBuffer: report.MaxBuffer ?? DEFAULT_MAX_BUFFER,
  }
}

/** The subscription as the wire shows it. */
export function reportObject(c: ReportConfig): Report {
  const out: Report = { uuid: c.uuid, ReportResource: c.ReportResource, ReportDeliveryLocation: c.ReportDeliveryLocation, MinPeriod: c.MinPeriod, Format: c.Format }
  if (c.MaxPeriod !== undefined) out.MaxPeriod = c.MaxPeriod
  if (c.ExpireTime !== undefined) out.ExpireTime = c.ExpireTime
  if (c.Delivery !== 'failover') out.Delivery = c.Delivery
  if (c.MaxBuffer !== DEFAULT_MAX_BUFFER) out.MaxBuffer = c.MaxBuffer
  return out
}

/** Whether a subscription's resource covers the stream at `path`. */
export function covers(resource: string, path: string): boolean {
  if (resource.endsWith('/+')) return isWithin(resource === '/+' ? '/' : resource.slice(0, -2), path)
  return path === resource || parentPath(path) === resource
}
