import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { dirname, relative, resolve } from 'node:path'
import { createSecureContext } from 'node:tls'
import { ConfigError, type ConfigLocation } from '../errors.js'
import type { ServerSettings } from '../instance.js'
import type { IniSection } from './ini.js'
import { didYouMean, originalServerKey } from './original.js'
import { readFilePath, readTokenSecret, writePath, writeSecret } from './secrets.js'
import { readBoolean, readBytes, readCount, readMs, readNonEmpty, readPort, writeBytes } from './values.js'

/**
 * The `[server]` keys: how each is read from its config text and written back.
 * One table, so reading, writing and the list in "unknown key" cannot drift.
 */
const SERVER_KEYS: Array<{
  [K in keyof ServerSettings]-?: {
    key: string
    /** Other names it is read by (the original sMAP's), case-insensitive like the key. */
    aliases?: string[]
    field: K
    read: (value: string, where: ConfigLocation, dir: string) => ServerSettings[K]
    write: (value: NonNullable<ServerSettings[K]>, dir: string) => string
  }
}[keyof ServerSettings]> = [
  { key: 'Port', field: 'port', read: (v, w) => readPort(v, w), write: String },
  { key: 'Host', field: 'host', read: (v, w) => readNonEmpty(v, w, 'an address to listen on, such as 127.0.0.1 or 0.0.0.0'), write: (v) => v },
  { key: 'DataDir', field: 'dataDir', read: (v, w, dir) => resolve(dir, readNonEmpty(v, w, 'a directory, such as ./data')), write: (v, dir) => relative(dir, v) || '.' },
  { key: 'ReportToken', field: 'reportToken', read: (v, w, dir) => readTokenSecret(v, w, dir, 'SMAP_REPORT_TOKEN'), write: writeSecret },
  { key: 'ReportClients', field: 'reportClients', read: (v, w) => readNetworks(v, w), write: (v) => v.join(', ') },
  { key: 'ReportHosts', field: 'reportHosts', read: (v) => v.split(/[\s,]+/).filter(Boolean), write: (v) => v.join(', ') },
  { key: 'AllowLinkLocal', field: 'allowLinkLocal', read: (v, w) => readBoolean(v, w), write: String },
  { key: 'Fsync', field: 'fsync', read: (v, w) => readBoolean(v, w), write: String },
  { key: 'FlushInterval', field: 'flushInterval', read: (v, w) => readMs(v, 1, 60_000, w), write: String },
  { key: 'ReportTimeout', field: 'reportTimeout', read: (v, w) => readMs(v, 100, 600_000, w), write: String },
  { key: 'RetryBackoff', field: 'retryBackoff', read: (v, w) => readMs(v, 1, 600_000, w), write: String },
  { key: 'MaxRetryBackoff', field: 'maxRetryBackoff', read: (v, w) => readMs(v, 1, 3_600_000, w), write: String },
  { key: 'MaxSubscriptions', field: 'maxSubscriptions', read: (v, w) => readCount(v, 1, 10_000, w), write: String },
  { key: 'MaxConnections', field: 'maxConnections', read: (v, w) => readCount(v, 1, 100_000, w), write: String },
  { key: 'MaxOutboxBytes', field: 'maxOutboxBytes', read: (v, w) => readBytes(v, 1024 * 1024, w), write: writeBytes },
  { key: 'JobGrace', field: 'jobGrace', read: (v, w) => readMs(v, 0, 86_400_000, w), write: String },
  { key: 'Http', field: 'http', read: (v, w) => readBoolean(v, w), write: String },
  { key: 'TlsPort', aliases: ['SslPort'], field: 'tlsPort', read: (v, w) => readPort(v, w), write: String },
  { key: 'TlsKey', aliases: ['SslKey'], field: 'tlsKey', read: (v, w, dir) => readFilePath(v, w, dir, "the server's private key, a PEM file such as /etc/smap/key.pem"), write: writePath },
  { key: 'TlsCert', aliases: ['SslCert'], field: 'tlsCert', read: (v, w, dir) => readFilePath(v, w, dir, "the server's certificate, a PEM file such as /etc/smap/cert.pem"), write: writePath },
  { key: 'TlsCA', aliases: ['SslCA'], field: 'tlsCA', read: (v, w, dir) => readFilePath(v, w, dir, 'the CA certificate that signs client certificates, a PEM file'), write: writePath },
  { key: 'TlsVerifyClients', aliases: ['SslVerify'], field: 'tlsVerifyClients', read: (v, w) => readBoolean(v, w), write: String },
]

const spelled = (name: string, spec: (typeof SERVER_KEYS)[number]): boolean =>
  [spec.key, ...(spec.aliases ?? [])].some((k) => k.toLowerCase() === name.toLowerCase())

/** `10.0.0.0/8, 192.168.1.20`: networks in CIDR form, or single addresses, IPv4 or IPv6. */
function readNetworks(value: string, where: ConfigLocation): string[] {
  const out = value.split(/[\s,]+/).filter(Boolean)
  for (const n of out) {
    const [address = '', prefix, ...more] = n.split('/')
    const family = isIP(address)
    const bits = prefix === undefined ? undefined : /^\d{1,3}$/.test(prefix) ? Number(prefix) : Number.NaN
    if (family === 0 || more.length > 0 || (bits !== undefined && !(bits >= 0 && bits <= (family === 4 ? 32 : 128)))) {
      throw new ConfigError('SMAP_CONFIG_INVALID', where, `"${n}" is not a network: expected addresses or CIDR networks such as 10.0.0.0/8, 192.168.1.20 or fd00::/8, separated by commas`)
    }
  }
  if (out.length === 0) throw new ConfigError('SMAP_CONFIG_INVALID', where, 'expected addresses or CIDR networks such as 10.0.0.0/8, separated by commas')
  return out
}

/** The settings of a `[server]` section (none if there is no section). */
export function readServer(section: IniSection | undefined, file: string, warn: (message: string) => void = () => {}): ServerSettings {
  const out: Record<string, unknown> = {}
  const wheres = new Map<keyof ServerSettings, ConfigLocation>()
  for (const e of section?.entries ?? []) {
    const where = { file, line: e.line, section: 'server', key: e.key }
    const spec = SERVER_KEYS.find((k) => spelled(e.key, k))
    if (!spec) {
      const original = originalServerKey(e.key, where)
      if (original) {
        warn(original)
        continue
      }
      const names = SERVER_KEYS.map((k) => k.key)
      throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, `unknown key in [server]${didYouMean(e.key, [...names, ...SERVER_KEYS.flatMap((k) => k.aliases ?? [])])}: expected one of ${names.join(', ')} (or the original sMAP's SslPort, SslKey, SslCert, SslCA, SslVerify)`)
    }
    const first = wheres.get(spec.field)
    if (first) throw new ConfigError('SMAP_CONFIG_DUPLICATE_KEY', where, `the same setting as ${first.key} on line ${first.line}; keep one`)
    wheres.set(spec.field, where)
    out[spec.field] = spec.read(e.value, where, dirname(file))
  }
  const settings = out as ServerSettings
  checkTls(settings, (field) => wheres.get(field) ?? { file, line: section?.line, section: 'server' })
  return settings
}

/** The TLS keys make sense together: a port with a key and a certificate, client checks with a CA, and some way in. */
function checkTls(s: ServerSettings, where: (field: keyof ServerSettings) => ConfigLocation): void {
  const fail = (field: keyof ServerSettings, problem: string): never => {
    throw new ConfigError('SMAP_CONFIG_INVALID', where(field), problem)
  }
  if (s.tlsPort !== undefined) {
    const missing = [s.tlsKey === undefined ? 'TlsKey' : '', s.tlsCert === undefined ? 'TlsCert' : ''].filter(Boolean)
    if (missing.length > 0) fail('tlsPort', `HTTPS needs ${missing.join(' and ')} too (the server's PEM private key and certificate); add ${missing.length > 1 ? 'them' : 'it'}, or remove TlsPort`)
    if (s.tlsPort !== 0 && s.tlsPort === (s.port ?? 8080) && s.http !== false) fail('tlsPort', `HTTP already listens on port ${s.tlsPort}; give TlsPort a port of its own`)
  } else {
    for (const field of ['tlsKey', 'tlsCert', 'tlsCA', 'tlsVerifyClients'] as const) {
      if (s[field] !== undefined) fail(field, 'TLS is served only on TlsPort: add "TlsPort = 8443" (with TlsKey and TlsCert), or remove this line')
    }
  }
  if (s.tlsVerifyClients && s.tlsCA === undefined) fail('tlsVerifyClients', 'checking client certificates needs TlsCA, the CA certificate that signs them; add it, or remove this line')
  if (s.http === false && s.tlsPort === undefined) fail('http', 'with plain HTTP off there is no way in: add TlsPort, TlsKey and TlsCert to serve HTTPS, or remove this line')
  if (s.tlsKey !== undefined && s.tlsCert !== undefined) {
    try {
      createSecureContext({ key: readFileSync(s.tlsKey), cert: readFileSync(s.tlsCert), ...(s.tlsCA === undefined ? {} : { ca: readFileSync(s.tlsCA) }) })
    } catch (err) {
      const why = (err as Error).message
      throw new ConfigError('SMAP_CONFIG_INVALID', where('tlsKey'), `${s.tlsKey}, ${s.tlsCert}${s.tlsCA === undefined ? '' : ` and ${s.tlsCA}`} do not make a TLS server (${why}): give a PEM private key, the certificate made for it and a PEM CA certificate`, { cause: err })
    }
  }
}

/** The `[server]` entries for `settings`; `dir` anchors a relative DataDir. */
export function serverEntries(settings: Readonly<ServerSettings>, dir: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const spec of SERVER_KEYS) {
    const value = settings[spec.field]
    if (value !== undefined) out.push([spec.key, (spec.write as (v: unknown, dir: string) => string)(value, dir)])
  }
  return out
}
