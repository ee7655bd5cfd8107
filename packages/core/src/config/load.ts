import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { ReadingType, Report } from '@smap/sdk'
import { ConfigError, ConfigErrors, FieldError, formatLocation, smapError, type ConfigLocation } from '../errors.js'
import { parseDriverOptions, resolveFileOptions } from '../drivers/definition.js'
import type { DriverSource } from '../drivers/driver-instance.js'
import { isDriverReference, resolveDriver, type ResolvedDriver } from '../drivers/resolve.js'
import { SmapInstance, type ServerSettings } from '../instance.js'
import type { Logger } from '../logger.js'
import { checkLocation, expireTimeMs } from '../reporting/subscription.js'
import { isUuid, uuid5 } from '../tree/identity.js'
import { mergeMetadata } from '../tree/metadata.js'
import { checkProperties } from '../tree/timeseries.js'
import { parseIni, type IniEntry, type IniSection } from './ini.js'
import { didYouMean, originalSection } from './original.js'
import { readServer } from './server-keys.js'
import { isTokenSection, readTokens } from './tokens.js'
import { isBrokerSection, readBrokers } from './brokers.js'
import { readCount, readMs } from './values.js'

/** Options of `load`. */
export interface LoadOptions {
  logger?: Logger
  /**
   * Collect every problem here and go on, instead of throwing the first
   * (what `smap validate` does). Sections with a problem are left out.
   */
  errors?: ConfigError[]
  /** Settings that win over the config's `[server]` section (e.g. `smap run --data-dir`). */
  server?: ServerSettings
  /**
   * Finds the driver a section's `type` names, instead of `resolveDriver`
   * (e.g. `smap dev` runs the package being developed from its source).
   */
  resolveDriver?: (ref: string, fromDir: string) => Promise<ResolvedDriver>
}

// stands in for a root uuid that failed to read, so that checking can go on (only when collecting errors)
const NIL_ROOT = '00000000-0000-4000-8000-000000000000'

/**
 * Builds an instance from a config file.
 * @example const inst = await load('conf.ini')
 */
export async function load(file: string, options: LoadOptions = {}): Promise<SmapInstance> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String(err)
    throw smapError('SMAP_CONFIG_UNREADABLE', `cannot read config file ${file}: ${why}`, { cause: err })
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
  // told once the instance (and its logger) exists
  const warnings: string[] = []
  try {
    server = readServer(sections.find((s) => s.name === 'server'), file, (m) => warnings.push(m))
  } catch (err) {
    report(err)
  }
  const tokens = readTokens(sections.filter((s) => isTokenSection(s.name)), file, server, report)
  if (tokens.length > 0) server.tokens = tokens
  const brokers = readBrokers(sections.filter((s) => isBrokerSection(s.name)), file, report)
  if (brokers.length > 0) server.brokers = brokers
  let root: ReturnType<typeof readRoot> = { uuid: NIL_ROOT, common: { metadata: [] } }
  try {
    root = readRoot(rootSection, file)
  } catch (err) {
    report(err)
  }
  const make = (timezone: string | undefined): SmapInstance =>
    new SmapInstance(root.uuid, { timezone, logger: options.logger, server: { ...server, ...options.server }, configFile: resolve(file) })
  let inst: SmapInstance
  try {
    inst = make(root.timezone?.value)
  } catch (err) {
    const tz = root.timezone
    if (!(err instanceof FieldError) || !tz) throw err
    report(fieldProblem(err, tz, { file, line: tz.line, section: '/', key: tz.key }))
    inst = make(undefined)
  }
  for (const w of warnings) inst.logger.warn(w)
  applyCommon(inst, '/', rootSection, root.common, file, report)

  const drivers: IniSection[] = []
  const reports: IniSection[] = []
  for (const section of sections) {
    if (section.name === '/' || section.name === 'server' || isTokenSection(section.name) || isBrokerSection(section.name)) continue
    const where = { file, line: section.line, section: section.name }
    try {
      if (section.name.startsWith('report')) {
        reports.push(section)
        continue
      }
      const original = originalSection(section.name, where)
      if (original) {
        inst.logger.warn(original)
        continue
      }
      if (!section.name.startsWith('/')) {
        throw new ConfigError(
          'SMAP_CONFIG_UNKNOWN_SECTION',
          where,
          'unknown section: expected [/PATH] for a resource, [server] for the server, [token NAME] for a client\'s bearer token, [broker NAME] for an MQTT broker\'s login, or [report NAME] for a subscription',
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
      await readDriver(inst, section, file, options.resolveDriver ?? resolveDriver)
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
    if (!known) throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, `unknown key in a report section${didYouMean(e.key, ['ReportDeliveryLocation', ...REPORT_KEYS])}: expected ReportDeliveryLocation, ReportDeliveryLocation1..9, ${REPORT_KEYS.join(', ')}`)
    values.set(known, e)
  }
  if (locations.length === 0) {
    throw new ConfigError('SMAP_CONFIG_NO_LOCATION', { ...sectionWhere, key: 'ReportDeliveryLocation' }, 'missing: where to send the readings, e.g. "ReportDeliveryLocation = http://localhost:8079/add"')
  }
  // everything, as the original loader did
  const resource = values.get('ReportResource') ?? { key: 'ReportResource', value: '/+', line: section.line }
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
  const expire = num('ExpireTime', (n) => Number.isInteger(n) && n > 0, 'a time in Unix milliseconds (or Unix seconds, as the original sMAP wrote it)')
  const body: Report = {
    uuid: uuid5(inst.root, section.name),
    ReportResource: resource.value,
    ReportDeliveryLocation: locations.sort((a, b) => a.n - b.n).map((l) => l.e.value),
    MinPeriod: num('MinPeriod', (n) => n >= 0, 'seconds, 0 or more'),
    MaxPeriod: num('MaxPeriod', (n) => n > 0, 'seconds, more than 0'),
    ExpireTime: expire === undefined ? undefined : expireTimeMs(expire),
    Format: choice('Format', ['json', 'gzip-json', 'legacy-gzip-json'] as const),
    Delivery: choice('Delivery', ['failover', 'fanout'] as const),
    MaxBuffer: num('MaxBuffer', (n) => Number.isInteger(n) && n > 0 && n <= 1_000_000, 'a whole number of readings from 1 to 1000000'),
  }
  for (const k of Object.keys(body) as Array<keyof Report>) if (body[k] === undefined) delete body[k]
  // an ended subscription is not an error that should keep a gateway from starting: say so and leave it out
  if (body.ExpireTime !== undefined && body.ExpireTime !== null && body.ExpireTime <= Date.now()) {
    const e = values.get('ExpireTime') as IniEntry
    inst.logger.warn(`${formatLocation({ file, line: e.line, section: section.name, key: e.key })}: this subscription expired at ${new Date(body.ExpireTime).toISOString()}; it is left out (remove the section, or give a later ExpireTime)`)
    return
  }
  try {
    await inst.addReport(body, { origin: 'config', where: `${file}:${section.line}`, name: section.name })
  } catch (err) {
    throw ConfigError.at(sectionWhere, err)
  }
}

async function readDriver(inst: SmapInstance, section: IniSection, file: string, resolveRef: NonNullable<LoadOptions['resolveDriver']>): Promise<void> {
  const sectionWhere = { file, line: section.line, section: section.name }
  const typeEntry = section.entries.find((e) => e.key.toLowerCase() === 'type') as IniEntry
  let resolved: ResolvedDriver
  try {
    resolved = await resolveRef(typeEntry.value, dirname(resolve(file)))
  } catch (err) {
    throw ConfigError.at({ ...sectionWhere, line: typeEntry.line, key: typeEntry.key }, err)
  }
  for (const note of resolved.notes ?? []) inst.logger.warn(`${formatLocation({ file, line: typeEntry.line, section: section.name, key: typeEntry.key })}: ${note}`)
  const common: CommonKeys = { metadata: [] }
  const source: DriverSource = { ref: typeEntry.value, rawOptions: {}, metadata: {} }
  const lines = new Map<string, number>()
  let isolation: DriverSource['isolation']
  let workerMemory: number | undefined
  for (const e of section.entries) {
    const where = { ...sectionWhere, line: e.line, key: e.key }
    const lower = e.key.toLowerCase()
    if (lower === 'type' || readCommon(e, common)) continue
    if (lower === 'key') {
      if (e.value === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, 'expected a key that names the driver instance durably')
      source.key = e.value
    } else if (lower === 'uuid') source.uuid = readUuid(e, where)
    else if (lower === 'isolation') {
      const v = e.value.toLowerCase()
      if (v !== 'worker' && v !== 'none') throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected worker (run the driver in a thread of its own) or none, got "${e.value}"`)
      if (v === 'worker') {
        if (!resolved.module) throw new ConfigError('SMAP_CONFIG_INVALID', where, `${typeEntry.value} is built in and runs in the main thread; Isolation = worker is for driver packages and modules`)
        isolation = { module: resolved.module, memoryMb: isolation?.memoryMb }
      }
    } else if (lower === 'workermemory') {
      workerMemory = readCount(e.value, 16, 16_384, where)
    } else if (lower === 'minwriteinterval') {
      source.minWriteIntervalMs = readMs(e.value, 0, 86_400_000, where)
    } else {
      source.rawOptions[e.key] = e.value
      lines.set(e.key, e.line)
    }
  }
  if (source.key !== undefined && source.uuid !== undefined) {
    inst.logger.warn(uuidWins(sectionWhere))
    delete source.key
  }
  // file options are relative to the config's folder; source.rawOptions keeps them as written, for dump
  const options = resolveFileOptions(resolved.definition, source.rawOptions, dirname(resolve(file)))
  const parsed = parseDriverOptions(resolved.definition, options)
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
  if (isolation) source.isolation = { ...isolation, ...(workerMemory === undefined ? {} : { memoryMb: workerMemory }) }
  else if (workerMemory !== undefined) {
    throw new ConfigError('SMAP_CONFIG_INVALID', { ...sectionWhere, key: 'WorkerMemory' }, 'WorkerMemory limits a driver run with Isolation = worker; add that line, or remove this one')
  }
  try {
    inst.addDriver(section.name, resolved.definition, options, source)
  } catch (err) {
    throw ConfigError.at(sectionWhere, err)
  }
}

interface CommonKeys {
  description?: IniEntry
  metadata: IniEntry[]
}

function readRoot(section: IniSection, file: string): { uuid: string; timezone?: IniEntry; common: CommonKeys } {
  let uuid: string | undefined
  let timezone: IniEntry | undefined
  const common: CommonKeys = { metadata: [] }
  for (const e of section.entries) {
    const where = { file, line: e.line, section: '/', key: e.key }
    const lower = e.key.toLowerCase()
    if (lower === 'uuid') uuid = readUuid(e, where)
    else if (lower === 'type') {
      if (e.value.toLowerCase() !== 'collection') throw new ConfigError('SMAP_CONFIG_INVALID', where, `the root is always a Collection, got "${e.value}"`)
    } else if (lower === 'properties/timezone') timezone = e
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

/** Description and Metadata/... of a section; each bad entry goes to `report` (which throws unless problems are being collected). */
function applyCommon(inst: SmapInstance, path: string, section: IniSection, common: CommonKeys, file: string, report: (err: unknown) => void = throwIt): void {
  const r = inst.lookup(path)
  if (!r) return
  if (common.description) r.description = common.description.value
  for (const e of common.metadata) {
    try {
      inst.setMetadata(path, { [e.key.slice('metadata/'.length)]: e.value })
    } catch (err) {
      report(new ConfigError('SMAP_CONFIG_INVALID', { file, line: e.line, section: section.name, key: e.key }, (err as Error).message, { cause: err }))
    }
  }
}

function throwIt(err: unknown): never {
  throw err
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
  // the entry each option came from, so the model's verdict on it can name its line
  const given = new Map<string, IniEntry>()
  let unit: IniEntry | undefined
  for (const e of section.entries) {
    const where = { ...sectionWhere, line: e.line, key: e.key }
    const lower = e.key.toLowerCase()
    if (lower === 'type' || readCommon(e, common)) continue
    if (kind === 'collection') {
      throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, 'unknown key for a Collection: expected type, Description or Metadata/...')
    }
    const field = TIMESERIES_KEYS[lower]
    if (field === undefined) {
      throw new ConfigError(
        'SMAP_CONFIG_UNKNOWN_KEY',
        where,
        'unknown key for a Timeseries: expected type, key, uuid, Description, BufferSize, Properties/UnitofMeasure, Properties/ReadingType, Properties/Timezone or Metadata/...',
      )
    }
    if (lower === 'key' && e.value === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, 'expected a key that names the stream durably, such as "sensor0"')
    if (lower === 'uuid') readUuid(e, where)
    if ((lower === 'uuid' && given.has('key')) || (lower === 'key' && given.has('uuid'))) {
      // as the original: the uuid names the stream, the key is left out
      inst.logger.warn(uuidWins(sectionWhere))
      if (lower === 'key') continue
      given.delete('key')
    }
    if (lower === 'properties/unitofmeasure') {
      if (e.value === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, 'expected a unit such as V or kW')
      unit = e
    }
    given.set(field, e)
  }
  try {
    if (kind === 'collection') inst.addCollection(section.name)
    else {
      const text = (field: string): string | undefined => given.get(field)?.value
      const size = text('bufferSize')
      const options = {
        key: text('key'),
        uuid: text('uuid')?.toLowerCase(),
        readingType: text('readingType')?.toLowerCase() as ReadingType | undefined,
        timezone: text('timezone'),
        bufferSize: size === undefined ? undefined : /^\d+$/.test(size) ? Number(size) : Number.NaN,
      }
      // a wrong value is told before a missing unit, as the entries come
      checkProperties(section.name, options)
      if (!unit) {
        throw new ConfigError(
          'SMAP_CONFIG_NO_UNIT',
          { ...sectionWhere, key: 'Properties/UnitofMeasure' },
          'missing: a Timeseries needs its unit, e.g. "Properties/UnitofMeasure = V"',
        )
      }
      inst.addTimeseries(section.name, { ...options, unit: unit.value })
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const entry = err instanceof FieldError ? given.get(err.field) : undefined
    if (err instanceof FieldError && entry) throw fieldProblem(err, entry, err.field === 'uuid' ? { ...sectionWhere, key: 'uuid' } : { ...sectionWhere, line: entry.line, key: entry.key })
    throw ConfigError.at(sectionWhere, err)
  }
  applyCommon(inst, section.name, section, common, file)
}

// a Timeseries section's keys (lower case) and the option of the model each sets
const TIMESERIES_KEYS: Record<string, string> = {
  key: 'key',
  uuid: 'uuid',
  'properties/unitofmeasure': 'unit',
  'properties/readingtype': 'readingType',
  'properties/timezone': 'timezone',
  buffersize: 'bufferSize',
}

/** A section with both: the uuid wins, as in the original sMAP. */
function uuidWins(where: ConfigLocation): string {
  return `${formatLocation(where)}: both uuid and key are given; the uuid is used and the key ignored, as the original sMAP did (remove one to quiet this)`
}

/** The model refused a value: the same rule, said about the config entry. */
function fieldProblem(err: FieldError, entry: IniEntry, where: ConfigLocation): ConfigError {
  if (err.field === 'timezone') return new ConfigError('SMAP_CONFIG_INVALID', where, `unknown time zone "${entry.value}": use ${err.expected}`, { cause: err })
  if (err.field === 'uuid') return new ConfigError('SMAP_CONFIG_INVALID', where, `give ${err.expected}`, { cause: err })
  return new ConfigError('SMAP_CONFIG_INVALID', where, `expected ${err.expected}, got "${entry.value}"`, { cause: err })
}

function readUuid(e: IniEntry, where: ConfigLocation): string {
  if (!isUuid(e.value)) {
    throw new ConfigError('SMAP_CONFIG_BAD_UUID', where, `expected a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got "${e.value}" (run \`smap uuid\` for a new one)`)
  }
  return e.value.toLowerCase()
}
