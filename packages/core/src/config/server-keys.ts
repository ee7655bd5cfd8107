import { dirname, relative, resolve } from 'node:path'
import { ConfigError, type ConfigLocation } from '../errors.js'
import type { ServerSettings } from '../instance.js'
import type { IniSection } from './ini.js'
import { readBoolean, readBytes, readCount, readMs, readNonEmpty, readPort, writeBytes } from './values.js'

/**
 * The `[server]` keys: how each is read from its config text and written back.
 * One table, so reading, writing and the list in "unknown key" cannot drift.
 */
const SERVER_KEYS: Array<{
  [K in keyof ServerSettings]-?: {
    key: string
    field: K
    read: (value: string, where: ConfigLocation, dir: string) => ServerSettings[K]
    write: (value: NonNullable<ServerSettings[K]>, dir: string) => string
  }
}[keyof ServerSettings]> = [
  { key: 'Port', field: 'port', read: (v, w) => readPort(v, w), write: String },
  { key: 'Host', field: 'host', read: (v, w) => readNonEmpty(v, w, 'an address to listen on, such as 127.0.0.1 or 0.0.0.0'), write: (v) => v },
  { key: 'DataDir', field: 'dataDir', read: (v, w, dir) => resolve(dir, readNonEmpty(v, w, 'a directory, such as ./data')), write: (v, dir) => relative(dir, v) || '.' },
  {
    key: 'ReportToken',
    field: 'reportToken',
    read: (v, w) => {
      if (!/^[\x21-\x7e]{16,}$/.test(v)) throw new ConfigError('SMAP_CONFIG_INVALID', w, 'expected a secret of at least 16 characters, letters, digits and ASCII punctuation without spaces (`smap uuid` makes a good one)')
      return v
    },
    write: (v) => v,
  },
  { key: 'ReportHosts', field: 'reportHosts', read: (v) => v.split(/[\s,]+/).filter(Boolean), write: (v) => v.join(', ') },
  { key: 'AllowLinkLocal', field: 'allowLinkLocal', read: (v, w) => readBoolean(v, w), write: String },
  { key: 'Fsync', field: 'fsync', read: (v, w) => readBoolean(v, w), write: String },
  { key: 'FlushInterval', field: 'flushInterval', read: (v, w) => readMs(v, 10, 60_000, w), write: String },
  { key: 'ReportTimeout', field: 'reportTimeout', read: (v, w) => readMs(v, 100, 600_000, w), write: String },
  { key: 'RetryBackoff', field: 'retryBackoff', read: (v, w) => readMs(v, 1, 600_000, w), write: String },
  { key: 'MaxRetryBackoff', field: 'maxRetryBackoff', read: (v, w) => readMs(v, 1, 3_600_000, w), write: String },
  { key: 'MaxSubscriptions', field: 'maxSubscriptions', read: (v, w) => readCount(v, 1, 10_000, w), write: String },
  { key: 'MaxConnections', field: 'maxConnections', read: (v, w) => readCount(v, 1, 100_000, w), write: String },
  { key: 'MaxOutboxBytes', field: 'maxOutboxBytes', read: (v, w) => readBytes(v, 1024 * 1024, w), write: writeBytes },
  { key: 'JobGrace', field: 'jobGrace', read: (v, w) => readMs(v, 0, 86_400_000, w), write: String },
]

/** The settings of a `[server]` section (none if there is no section). */
export function readServer(section: IniSection | undefined, file: string): ServerSettings {
  const out: Record<string, unknown> = {}
  for (const e of section?.entries ?? []) {
    const where = { file, line: e.line, section: 'server', key: e.key }
    const spec = SERVER_KEYS.find((k) => k.key.toLowerCase() === e.key.toLowerCase())
    if (!spec) throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, `unknown key in [server]: expected one of ${SERVER_KEYS.map((k) => k.key).join(', ')}`)
    out[spec.field] = spec.read(e.value, where, dirname(file))
  }
  return out as ServerSettings
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
