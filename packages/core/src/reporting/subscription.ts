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
  Format: 'json' | 'gzip-json'
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
  return parsed.data
}

/** Checks a delivery location: http(s), allowed host, no link-local address unless allowed. Returns the problem or undefined. */
export function checkLocation(location: string, policy: LocationPolicy = {}): string | undefined {
  let url: URL
  try {
    url = new URL(location)
  } catch {
    return `"${location}" is not a URL; expected one like http://archiver:8079/add`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${location}" must be an http:// or https:// URL`
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (policy.allowedHosts && policy.allowedHosts.length > 0 && !policy.allowedHosts.some((h) => h.toLowerCase() === host)) {
    return `"${location}": host ${host} is not in ReportHosts (${policy.allowedHosts.join(', ')})`
  }
  if (!policy.allowLinkLocal && isLinkLocal(host)) {
    return `"${location}" points at a link-local address (where cloud metadata services answer); set AllowLinkLocal = true in [server] if you mean it`
  }
  return undefined
}

function isLinkLocal(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('169.254.')
  if (isIP(host) !== 6) return false
  if (/^fe[89ab][0-9a-f]:/i.test(host)) return true
  // an IPv4-mapped address, which URL writes in hex: [::ffff:169.254.169.254] becomes [::ffff:a9fe:a9fe]
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)
  if (dotted) return isLinkLocal(dotted[1] as string)
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(host)
  return hex !== null && parseInt(hex[1] as string, 16) === 0xa9fe
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
