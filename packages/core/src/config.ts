import { readFile, writeFile } from 'node:fs/promises'
import { dirname, relative, resolve } from 'node:path'
import type { Metadata, ReadingType } from '@smap/sdk'
import { ConfigError, ConfigErrors, mergeMetadata, parseDriverOptions, SmapError, uuid5, type ConfigLocation, type Report } from '@smap/sdk'
import { checkLocation, reportObject } from './reporting.js'
import { isUuid } from '@smap/sdk'
import { SmapInstance, DEFAULT_TIMEZONE, type ServerSettings } from './instance.js'
import type { Logger } from './logger.js'
import { flattenMetadata } from '@smap/sdk'
import { parseIni, writeIni, type IniEntry, type IniSection } from './_ini.js'
import { isDriverReference, resolveDriver, type ResolvedDriver } from './driver-resolve.js'
import type { DriverSource } from './driver-host.js'
import { checkTimezone, DEFAULT_BUFFER_SIZE } from './timeseries.js'

/** Options of `load`. */
export interface LoadOptions {
  logger?: Logger
  /**
   * Collect every problem here and go on, instead of throwing the first
   * (what `smap validate` does). Sections with a problem are left out.
   */
  errors?: ConfigError[]
}

const READING_TYPES: readonly ReadingType[] = ['long', 'double', 'string']
// stands in for a root uuid that failed to read, so that checking can go on (only when collecting errors)
const NIL_ROOT = '00000000-0000-4000-8000-000000000000'

/**
 * Builds an instance from a config file (DESIGN.md §6).
 * @example const inst = await load('conf.ini')
 */
export async function load(file: string, options: LoadOptions = {}): Promise<SmapInstance> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String(err)
    throw new SmapError('SMAP_CONFIG_UNREADABLE', `cannot read config file ${file}: ${why}`, { cause: err })
  }
  return loadText(text, file, options)
}

/**
 * Like `load`, from the text of a config; `file` names it in errors and
 * anchors relative paths (DataDir, driver modules and packages).
 */
export async function loadText(text: string, file: string, options: LoadOptions = {}): Promise<SmapInstance> {
  const report = (err: unknown): void => {
    if (options.errors && err instanceof ConfigError) options.errors.push(err)
    else if (options.errors && err instanceof ConfigErrors) options.errors.push(...err.errors)
    else throw err
  }
  const sections = parseIni(text, file, options.errors)
  const rootSection = sections.find((s) => s.name === '/')
  if (!rootSection) {
    throw new ConfigError(
      'SMAP_CONFIG_NO_ROOT',
      { file },
      'no [/] section: every config needs one giving the source its uuid, e.g.\n  [/]\n  uuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92\n(run `smap uuid` for a new one)',
    )
  }
  // when collecting every problem, a broken [server] or [/] must not hide the rest
  let server: ServerSettings = {}
  try {
    server = readServer(sections.find((s) => s.name === 'server'), file)
  } catch (err) {
    report(err)
  }
  let root: ReturnType<typeof readRoot> = { uuid: NIL_ROOT, common: { metadata: [] } }
  try {
    root = readRoot(rootSection, file)
  } catch (err) {
    report(err)
  }
  const inst = new SmapInstance(root.uuid, { timezone: root.timezone, logger: options.logger, server, configFile: resolve(file) })
  applyCommon(inst, '/', rootSection, root.common, file)

  const drivers: IniSection[] = []
  const reports: IniSection[] = []
  for (const section of sections) {
    if (section.name === '/' || section.name === 'server') continue
    const where = { file, line: section.line, section: section.name }
    try {
      if (section.name.startsWith('report')) {
        reports.push(section)
        continue
      }
      if (!section.name.startsWith('/')) {
        throw new ConfigError(
          'SMAP_CONFIG_UNKNOWN_SECTION',
          where,
          'unknown section: expected [/PATH] for a resource, [server] for the server, or [report NAME] for a subscription',
        )
      }
      const type = section.entries.find((e) => e.key.toLowerCase() === 'type')?.value
      if (type !== undefined && isDriverReference(type)) drivers.push(section)
      else readResource(inst, section, file)
    } catch (err) {
      report(err)
    }
  }
  // drivers last, so the tree they attach to is complete; their setup runs at start()
  for (const section of drivers) {
    try {
      await readDriver(inst, section, file)
    } catch (err) {
      report(err)
    }
  }
  for (const section of reports) {
    try {
      await readReport(inst, section, file)
    } catch (err) {
      report(err)
    }
  }
  return inst
}

const REPORT_KEYS = ['ReportResource', 'MinPeriod', 'MaxPeriod', 'ExpireTime', 'Format', 'Delivery', 'MaxBuffer']

async function readReport(inst: SmapInstance, section: IniSection, file: string): Promise<void> {
  const sectionWhere = { file, line: section.line, section: section.name }
  const locations: Array<{ n: number; e: IniEntry }> = []
  const values = new Map<string, IniEntry>()
  for (const e of section.entries) {
    const where = { ...sectionWhere, line: e.line, key: e.key }
    const loc = /^reportdeliverylocation(\d?)$/i.exec(e.key)
    if (loc) {
      const problem = checkLocation(e.value, { allowedHosts: inst.server.reportHosts, allowLinkLocal: inst.server.allowLinkLocal })
      if (problem) throw new ConfigError('SMAP_CONFIG_INVALID', where, problem)
      locations.push({ n: loc[1] === '' ? 0 : Number(loc[1]), e })
      continue
    }
    const known = REPORT_KEYS.find((k) => k.toLowerCase() === e.key.toLowerCase())
    if (!known) throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, `unknown key in a report section: expected ReportDeliveryLocation, ReportDeliveryLocation1..9, ${REPORT_KEYS.join(', ')}`)
    values.set(known, e)
  }
  if (locations.length === 0) {
    throw new ConfigError('SMAP_CONFIG_NO_LOCATION', { ...sectionWhere, key: 'ReportDeliveryLocation' }, 'missing: where to send the readings, e.g. "ReportDeliveryLocation = http://localhost:8079/add"')
  }
  const resource = values.get('ReportResource')
  if (!resource) throw new ConfigError('SMAP_CONFIG_NO_RESOURCE', { ...sectionWhere, key: 'ReportResource' }, 'missing: what to send, e.g. "ReportResource = /+" for everything')
  const num = (key: string, check: (n: number) => boolean, expected: string): number | undefined => {
    const e = values.get(key)
    if (!e) return undefined
    const n = Number(e.value)
    if (e.value.trim() === '' || !Number.isFinite(n) || !check(n)) throw new ConfigError('SMAP_CONFIG_INVALID', { ...sectionWhere, line: e.line, key: e.key }, `expected ${expected}, got "${e.value}"`)
    return n
  }
  const choice = <T extends string>(key: string, options: readonly T[]): T | undefined => {
    const e = values.get(key)
    if (!e) return undefined
    const v = options.find((o) => o === e.value.toLowerCase())
    if (!v) throw new ConfigError('SMAP_CONFIG_INVALID', { ...sectionWhere, line: e.line, key: e.key }, `expected ${options.join(' or ')}, got "${e.value}"`)
    return v
  }
  const body: Report = {
    uuid: uuid5(inst.root, section.name),
    ReportResource: resource.value,
    ReportDeliveryLocation: locations.sort((a, b) => a.n - b.n).map((l) => l.e.value),
    MinPeriod: num('MinPeriod', (n) => n >= 0, 'seconds, 0 or more'),
    MaxPeriod: num('MaxPeriod', (n) => n > 0, 'seconds, more than 0'),
    ExpireTime: num('ExpireTime', (n) => Number.isInteger(n) && n > 0, 'a time in Unix milliseconds'),
    Format: choice('Format', ['json', 'gzip-json'] as const),
    Delivery: choice('Delivery', ['failover', 'fanout'] as const),
    MaxBuffer: num('MaxBuffer', (n) => Number.isInteger(n) && n > 0 && n <= 1_000_000, 'a whole number of readings from 1 to 1000000'),
  }
  for (const k of Object.keys(body) as Array<keyof Report>) if (body[k] === undefined) delete body[k]
  try {
    await inst.addReport(body, { origin: 'config', where: `${file}:${section.line}`, name: section.name })
  } catch (err) {
    throw new ConfigError((err as SmapError).code ?? 'SMAP_CONFIG_INVALID', sectionWhere, (err as Error).message, { cause: err })
  }
}

async function readDriver(inst: SmapInstance, section: IniSection, file: string): Promise<void> {
  const sectionWhere = { file, line: section.line, section: section.name }
  const typeEntry = section.entries.find((e) => e.key.toLowerCase() === 'type') as IniEntry
  let resolved: ResolvedDriver
  try {
    resolved = await resolveDriver(typeEntry.value, dirname(resolve(file)))
  } catch (err) {
    throw new ConfigError((err as SmapError).code ?? 'SMAP_CONFIG_INVALID', { ...sectionWhere, line: typeEntry.line, key: typeEntry.key }, (err as Error).message, { cause: err })
  }
  const common: CommonKeys = { metadata: [] }
  const source: DriverSource = { ref: typeEntry.value, rawOptions: {}, metadata: {} }
  const lines = new Map<string, number>()
  for (const e of section.entries) {
    const where = { ...sectionWhere, line: e.line, key: e.key }
    const lower = e.key.toLowerCase()
    if (lower === 'type' || readCommon(e, common)) continue
    if (lower === 'key') {
      if (e.value === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, 'expected a key that names the driver instance durably')
      source.key = e.value
    } else if (lower === 'uuid') source.uuid = readUuid(e, where)
    else {
      source.rawOptions[e.key] = e.value
      lines.set(e.key, e.line)
    }
  }
  if (source.key !== undefined && source.uuid !== undefined) {
    throw new ConfigError('SMAP_CONFIG_INVALID', { ...sectionWhere, key: 'uuid' }, 'give key or uuid, not both: the uuid is derived from the key')
  }
  const parsed = parseDriverOptions(resolved.definition, source.rawOptions)
  if (!parsed.ok) {
    const [first, ...rest] = parsed.problems.map(
      (p) =>
        new ConfigError('SMAP_CONFIG_DRIVER_OPTION', { ...sectionWhere, line: p.key === undefined ? section.line : (lines.get(p.key) ?? section.line), key: p.key }, p.message),
    )
    if (rest.length === 0) throw first
    throw new ConfigErrors([first as ConfigError, ...rest])
  }
  for (const e of common.metadata) {
    try {
      mergeMetadata(source.metadata, { [e.key.slice('metadata/'.length)]: e.value }, section.name)
    } catch (err) {
      throw new ConfigError('SMAP_CONFIG_INVALID', { ...sectionWhere, line: e.line, key: e.key }, (err as Error).message, { cause: err })
    }
  }
  if (common.description) source.description = common.description.value
  try {
    inst.addDriver(section.name, resolved.definition, source.rawOptions, source)
  } catch (err) {
    throw new ConfigError((err as SmapError).code ?? 'SMAP_CONFIG_INVALID', sectionWhere, (err as Error).message, { cause: err })
  }
}

interface CommonKeys {
  description?: IniEntry
  metadata: IniEntry[]
}

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
  { key: 'Port', field: 'port', read: (v, w) => parsePort(v, w), write: String },
  { key: 'Host', field: 'host', read: (v, w) => nonEmpty(v, w, 'an address to listen on, such as 127.0.0.1 or 0.0.0.0'), write: (v) => v },
  { key: 'DataDir', field: 'dataDir', read: (v, w, dir) => resolve(dir, nonEmpty(v, w, 'a directory, such as ./data')), write: (v, dir) => relative(dir, v) || '.' },
  {
    key: 'ReportToken',
    field: 'reportToken',
    read: (v, w) => {
      if (v.length < 16) throw new ConfigError('SMAP_CONFIG_INVALID', w, 'expected a secret of at least 16 characters (`smap uuid` makes a good one)')
      return v
    },
    write: (v) => v,
  },
  { key: 'ReportHosts', field: 'reportHosts', read: (v) => v.split(/[\s,]+/).filter(Boolean), write: (v) => v.join(', ') },
  { key: 'AllowLinkLocal', field: 'allowLinkLocal', read: (v, w) => parseBoolean(v, w), write: String },
  { key: 'Fsync', field: 'fsync', read: (v, w) => parseBoolean(v, w), write: String },
  { key: 'FlushInterval', field: 'flushInterval', read: (v, w) => parseMs(v, 10, 60_000, w), write: String },
  { key: 'ReportTimeout', field: 'reportTimeout', read: (v, w) => parseMs(v, 100, 600_000, w), write: String },
  { key: 'RetryBackoff', field: 'retryBackoff', read: (v, w) => parseMs(v, 1, 600_000, w), write: String },
  { key: 'MaxRetryBackoff', field: 'maxRetryBackoff', read: (v, w) => parseMs(v, 1, 3_600_000, w), write: String },
]

function readServer(section: IniSection | undefined, file: string): ServerSettings {
  const out: Record<string, unknown> = {}
  for (const e of section?.entries ?? []) {
    const where = { file, line: e.line, section: 'server', key: e.key }
    const spec = SERVER_KEYS.find((k) => k.key.toLowerCase() === e.key.toLowerCase())
    if (!spec) throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, `unknown key in [server]: expected one of ${SERVER_KEYS.map((k) => k.key).join(', ')}`)
    out[spec.field] = spec.read(e.value, where, dirname(file))
  }
  return out as ServerSettings
}

function nonEmpty(value: string, where: ConfigLocation, expected: string): string {
  if (value === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected ${expected}`)
  return value
}

function parseMs(value: string, min: number, max: number, where: ConfigLocation): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!(ms >= min && ms <= max)) throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected milliseconds from ${min} to ${max}, got "${value}"`)
  return ms
}

function parseBoolean(value: string, where: ConfigLocation): boolean {
  const v = value.toLowerCase()
  if (['true', 'yes', 'on', '1'].includes(v)) return true
  if (['false', 'no', 'off', '0'].includes(v)) return false
  throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected true or false, got "${value}"`)
}

/** A TCP port from a config or command-line value; `where` names it in the error. */
export function parsePort(value: string, where: ConfigLocation): number {
  const port = /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected a port number from 0 to 65535, got "${value}"`)
  }
  return port
}

function readRoot(section: IniSection, file: string): { uuid: string; timezone?: string; common: CommonKeys } {
  let uuid: string | undefined
  let timezone: string | undefined
  const common: CommonKeys = { metadata: [] }
  for (const e of section.entries) {
    const where = { file, line: e.line, section: '/', key: e.key }
    const lower = e.key.toLowerCase()
    if (lower === 'uuid') uuid = readUuid(e, where)
    else if (lower === 'type') {
      if (e.value.toLowerCase() !== 'collection') throw new ConfigError('SMAP_CONFIG_INVALID', where, `the root is always a Collection, got "${e.value}"`)
    } else if (lower === 'properties/timezone') timezone = readTimezone(e, where)
    else if (!readCommon(e, common)) {
      throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, 'unknown key in [/]: expected uuid, type, Description, Properties/Timezone or Metadata/...')
    }
  }
  if (uuid === undefined) {
    throw new ConfigError(
      'SMAP_CONFIG_NO_UUID',
      { file, line: section.line, section: '/', key: 'uuid' },
      'missing: the root needs the source\'s uuid, e.g. "uuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92" (run `smap uuid` for a new one)',
    )
  }
  return { uuid, timezone, common }
}

function readCommon(e: IniEntry, common: CommonKeys): boolean {
  const lower = e.key.toLowerCase()
  if (lower === 'description') common.description = e
  else if (lower.startsWith('metadata/') && e.key.length > 'metadata/'.length) common.metadata.push(e)
  else return false
  return true
}

function applyCommon(inst: SmapInstance, path: string, section: IniSection, common: CommonKeys, file: string): void {
  const r = inst.lookup(path)
  if (!r) return
  if (common.description) r.description = common.description.value
  for (const e of common.metadata) {
    try {
      inst.setMetadata(path, { [e.key.slice('metadata/'.length)]: e.value })
    } catch (err) {
      throw new ConfigError('SMAP_CONFIG_INVALID', { file, line: e.line, section: section.name, key: e.key }, (err as Error).message, { cause: err })
    }
  }
}

function readResource(inst: SmapInstance, section: IniSection, file: string): void {
  const sectionWhere = { file, line: section.line, section: section.name }
  const typeEntry = section.entries.find((e) => e.key.toLowerCase() === 'type')
  const type = typeEntry?.value ?? 'Timeseries'
  const kind = type.toLowerCase()
  if (kind !== 'collection' && kind !== 'timeseries') {
    const where = { ...sectionWhere, line: typeEntry?.line, key: typeEntry?.key }
    throw new ConfigError('SMAP_CONFIG_INVALID', where, `unknown type "${type}": expected Collection, Timeseries, or a driver package name`)
  }
  const common: CommonKeys = { metadata: [] }
  let key: string | undefined
  let uuid: string | undefined
  let unit: IniEntry | undefined
  let readingType: ReadingType | undefined
  let timezone: string | undefined
  let bufferSize: number | undefined
  for (const e of section.entries) {
    const where = { ...sectionWhere, line: e.line, key: e.key }
    const lower = e.key.toLowerCase()
    if (lower === 'type' || readCommon(e, common)) continue
    if (kind === 'collection') {
      throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, 'unknown key for a Collection: expected type, Description or Metadata/...')
    }
    if (lower === 'key') {
      if (e.value === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, 'expected a key that names the stream durably, such as "sensor0"')
      key = e.value
    } else if (lower === 'uuid') uuid = readUuid(e, where)
    else if (lower === 'properties/unitofmeasure') {
      if (e.value === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, 'expected a unit such as V or kW')
      unit = e
    } else if (lower === 'properties/readingtype') {
      const rt = READING_TYPES.find((t) => t === e.value.toLowerCase())
      if (!rt) throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected long, double or string, got "${e.value}"`)
      readingType = rt
    } else if (lower === 'properties/timezone') timezone = readTimezone(e, where)
    else if (lower === 'buffersize') {
      const n = /^\d+$/.test(e.value) ? Number(e.value) : Number.NaN
      if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected a whole number from 1 to 100000, got "${e.value}"`)
      bufferSize = n
    } else {
      throw new ConfigError(
        'SMAP_CONFIG_UNKNOWN_KEY',
        where,
        'unknown key for a Timeseries: expected type, key, uuid, Description, BufferSize, Properties/UnitofMeasure, Properties/ReadingType, Properties/Timezone or Metadata/...',
      )
    }
  }
  try {
    if (kind === 'collection') inst.addCollection(section.name)
    else {
      if (!unit) {
        throw new ConfigError(
          'SMAP_CONFIG_NO_UNIT',
          { ...sectionWhere, key: 'Properties/UnitofMeasure' },
          'missing: a Timeseries needs its unit, e.g. "Properties/UnitofMeasure = V"',
        )
      }
      if (key !== undefined && uuid !== undefined) {
        throw new ConfigError('SMAP_CONFIG_INVALID', { ...sectionWhere, key: 'uuid' }, 'give key or uuid, not both: the uuid is derived from the key')
      }
      inst.addTimeseries(section.name, { unit: unit.value, key, uuid, readingType, timezone, bufferSize })
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    throw new ConfigError((err as SmapError).code ?? 'SMAP_CONFIG_INVALID', sectionWhere, (err as Error).message, { cause: err })
  }
  applyCommon(inst, section.name, section, common, file)
}

function readUuid(e: IniEntry, where: ConfigLocation): string {
  if (!isUuid(e.value)) {
    throw new ConfigError('SMAP_CONFIG_BAD_UUID', where, `expected a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got "${e.value}" (run \`smap uuid\` for a new one)`)
  }
  return e.value.toLowerCase()
}

function readTimezone(e: IniEntry, where: ConfigLocation): string {
  try {
    return checkTimezone(e.value, 'Properties/Timezone')
  } catch {
    throw new ConfigError('SMAP_CONFIG_INVALID', where, `unknown time zone "${e.value}": use an IANA name such as America/Los_Angeles or UTC`)
  }
}

/**
 * Writes an instance as a config file, omitting defaults; `load` reads it back
 * into the same tree, metadata and uuids.
 * @example await dump(inst, 'conf.ini')
 */
export async function dump(inst: SmapInstance, file: string): Promise<void> {
  await writeFile(file, dumpText(inst, dirname(resolve(file))))
}

/** The config text `dump` writes; `baseDir` anchors a relative DataDir. */
export function dumpText(inst: SmapInstance, baseDir = process.cwd()): string {
  const sections: Array<{ name: string; entries: Array<[string, string]> }> = []
  const server: Array<[string, string]> = []
  for (const spec of SERVER_KEYS) {
    const value = inst.server[spec.field]
    if (value !== undefined) server.push([spec.key, (spec.write as (v: unknown, dir: string) => string)(value, baseDir)])
  }
  if (server.length > 0) sections.push({ name: 'server', entries: server })

  for (const r of inst.resources()) {
    const driver = inst.drivers.get(r.path)
    if (driver) {
      // a driver's section as written; what it builds comes back when it runs
      if (driver.source.ref === undefined) {
        throw new SmapError('SMAP_DUMP_UNREPRESENTABLE', `cannot write the driver at ${r.path}: it was added in code without a package reference (pass { ref: 'package-name' } to addDriver)`)
      }
      const entries: Array<[string, string]> = [['type', driver.source.ref]]
      if (driver.source.key !== undefined) entries.push(['key', driver.source.key])
      if (driver.source.uuid !== undefined) entries.push(['uuid', driver.source.uuid])
      entries.push(...Object.entries(driver.source.rawOptions))
      if (driver.source.description !== undefined) entries.push(['Description', driver.source.description])
      entries.push(...metadataEntries(driver.source.metadata))
      if (r.path === '/') throw new SmapError('SMAP_DUMP_UNREPRESENTABLE', 'cannot write a driver attached at the root: a config attaches drivers at a path below [/]')
      sections.push({ name: r.path, entries })
      continue
    }
    if (r._owner !== undefined) continue
    const entries: Array<[string, string]> = [['type', r.type]]
    if (r.path === '/') {
      entries.push(['uuid', inst.root])
      if (inst.timezone !== DEFAULT_TIMEZONE) entries.push(['Properties/Timezone', inst.timezone])
    } else if (r.type === 'Timeseries') {
      if (r.key !== undefined) entries.push(['key', r.key])
      else if (r.explicitUuid) entries.push(['uuid', r.uuid])
      entries.push(['Properties/UnitofMeasure', r.unit])
      if (r.readingType !== 'long') entries.push(['Properties/ReadingType', r.readingType])
      if (r.ownTimezone !== undefined) entries.push(['Properties/Timezone', r.ownTimezone])
      if (r.bufferSize !== DEFAULT_BUFFER_SIZE) entries.push(['BufferSize', String(r.bufferSize)])
    }
    if (r.description !== undefined) entries.push(['Description', r.description])
    entries.push(...metadataEntries(r._metadata))
    sections.push({ name: r.path, entries })
  }
  // subscriptions from a config (those made over HTTP live in the data dir)
  for (const sub of inst.subscriptions.values()) {
    if (sub.origin !== 'config' || sub.name === undefined) continue
    const o = reportObject(sub.config)
    const entries: Array<[string, string]> = o.ReportDeliveryLocation instanceof Array
      ? o.ReportDeliveryLocation.map((l, i) => [i === 0 ? 'ReportDeliveryLocation' : `ReportDeliveryLocation${i}`, l])
      : [['ReportDeliveryLocation', o.ReportDeliveryLocation]]
    entries.push(['ReportResource', o.ReportResource])
    if (o.MinPeriod) entries.push(['MinPeriod', String(o.MinPeriod)])
    for (const k of ['MaxPeriod', 'ExpireTime', 'Delivery', 'MaxBuffer'] as const) if (o[k] !== undefined) entries.push([k, String(o[k])])
    if (o.Format !== 'json') entries.push(['Format', String(o.Format)])
    sections.push({ name: sub.name, entries })
  }
  return writeIni(sections)
}

function metadataEntries(meta: Metadata): Array<[string, string]> {
  return flattenMetadata(meta).map(([k, v]) => [`Metadata/${k}`, v])
}
