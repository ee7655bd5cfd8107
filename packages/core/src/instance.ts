import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { dirname, join, resolve as resolvePath } from 'node:path'
import {
  baseName,
  isWithin,
  mergeMetadata,
  normalizePath,
  parentPath,
  parseDriverDefinition,
  parseDriverOptions,
  parseUuid,
  SmapError,
  uuid5,
  type DriverDefinition,
  type MetadataInput,
  type ReadingValue,
  type Report,
  reportSchema,
} from '@smap/sdk'
import { Collection } from './collection.js'
import { DriverInstance, type DriverSource, type DriverStatus, type SupervisionOptions } from './driver-host.js'
import { createConsoleLogger, type Logger } from './logger.js'
import { normalizeReport, Reporter, type ReportConfig, type Subscription } from './reporting.js'
import { checkTimezone, Timeseries, type ReadingListener, type TimeseriesOptions } from './timeseries.js'

/** A resource of the tree. */
export type Resource = Collection | Timeseries

export const DEFAULT_TIMEZONE = 'America/Los_Angeles'

/** Options of a new instance. */
export interface SmapInstanceOptions {
  /** Default time zone of its streams (a config's root `Properties/Timezone`). */
  timezone?: string
  logger?: Logger
  /** Settings for serving it, as a config's `[server]` section gives them. */
  server?: ServerSettings
  /** The config file it was loaded from, if any. */
  configFile?: string
}

/** How an instance wants to be served; `serve` and `smap run` use these unless told otherwise. */
export interface ServerSettings {
  port?: number
  host?: string
  /** Outboxes and subscriptions; default `.smap` beside the config (or in the working directory). */
  dataDir?: string
  /** Lets clients other than this machine manage subscriptions, with `Authorization: Bearer TOKEN`. */
  reportToken?: string
  /** If set, delivery locations may only name these hosts. */
  reportHosts?: string[]
  /** Allow delivery to link-local addresses (169.254.0.0/16, fe80::/10). */
  allowLinkLocal?: boolean
  /** fsync the outbox after every write (survives power loss; slower). */
  fsync?: boolean
  /** How often added readings are written to the outboxes, ms (default 100). */
  flushInterval?: number
  /** How long a subscriber may take to answer a POST, ms (default 30,000). */
  reportTimeout?: number
  /** First retry delay after a failed delivery, ms (default 500); doubles up to `maxRetryBackoff` (default 60,000). */
  retryBackoff?: number
  maxRetryBackoff?: number
}

/** Options of `addCollection`. */
export interface CollectionOptions {
  description?: string
}

/**
 * A sMAP source: a tree of collections and timeseries under a root uuid.
 * @example
 * const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92')
 * inst.addTimeseries('/sensor0', 'sensor0', 'V')
 * inst.add('/sensor0', 42)
 */
export class SmapInstance {
  /** The root uuid: the source's durable identity. */
  readonly root: string
  readonly logger: Logger
  readonly server: ServerSettings
  /** The config file it was loaded from (absolute), if any. */
  readonly configFile: string | undefined
  /** @internal called for every reading added to any stream. */
  readonly readingListeners: ReadingListener[] = []
  #timezone: string
  readonly #resources = new Map<string, Resource>()
  readonly #byUuid = new Map<string, Timeseries>()
  readonly #drivers = new Map<string, DriverInstance>()
  #reporter: Reporter | undefined
  #started = false

  constructor(root: string, options: SmapInstanceOptions = {}) {
    this.root = parseUuid(String(root), 'the root uuid')
    this.logger = options.logger ?? createConsoleLogger()
    this.server = { ...options.server }
    this.configFile = options.configFile
    this.#timezone = options.timezone === undefined ? DEFAULT_TIMEZONE : checkTimezone(options.timezone, 'the root')
    this.#resources.set('/', new Collection('/', false))
  }

  /** Default time zone of streams that do not set their own. */
  get timezone(): string {
    return this.#timezone
  }

  set timezone(zone: string) {
    this.#timezone = checkTimezone(zone, 'the root')
  }

  /** The uuid a stream with this key gets in this source: uuid5(root, key). */
  uuid(key: string): string {
    return uuid5(this.root, key)
  }

  /**
   * Adds a timeseries, creating missing parent collections.
   * @example inst.addTimeseries('/sensor0', 'sensor0', 'V')
   * @example inst.addTimeseries('/temp', { unit: 'C', readingType: 'double' })
   */
  addTimeseries(path: string, key: string, unit: string, options?: Omit<TimeseriesOptions, 'unit' | 'key'>): Timeseries
  addTimeseries(path: string, options: TimeseriesOptions): Timeseries
  addTimeseries(
    path: string,
    keyOrOptions: string | TimeseriesOptions,
    unit?: string,
    options?: Omit<TimeseriesOptions, 'unit' | 'key'>,
  ): Timeseries {
    const opts: TimeseriesOptions =
      typeof keyOrOptions === 'string' ? { ...options, key: keyOrOptions, unit: unit as string } : { ...keyOrOptions }
    const p = normalizePath(path)
    if (p === '/') throw new SmapError('SMAP_PATH_EXISTS', 'cannot add a timeseries at /: the root is always a collection')
    this.#checkFree(p)
    if (opts.key !== undefined && (typeof opts.key !== 'string' || opts.key === '')) {
      throw new SmapError('SMAP_KEY_INVALID', `timeseries ${p}: a key must be a non-empty string, got ${JSON.stringify(opts.key)}`)
    }
    if (opts.key !== undefined && opts.uuid !== undefined) {
      throw new SmapError('SMAP_KEY_INVALID', `timeseries ${p}: give a key or a uuid, not both`)
    }
    const explicitUuid = opts.uuid !== undefined
    const id = explicitUuid ? parseUuid(opts.uuid as string, `the uuid of ${p}`) : uuid5(opts.namespace ?? this.root, opts.key ?? p)
    const clash = this.#byUuid.get(id)
    if (clash) {
      throw new SmapError(
        'SMAP_KEY_DUPLICATE',
        opts.key !== undefined
          ? `timeseries ${p}: key "${opts.key}" is already used by ${clash.path}; keys must be unique in a source`
          : `timeseries ${p}: uuid ${id} is already used by ${clash.path}`,
      )
    }
    const ts = new Timeseries(this, p, id, { ...opts, explicitUuid })
    this.#attach(p, ts)
    this.#byUuid.set(id, ts)
    return ts
  }

  /** Adds a collection (and any missing parents); adding one that exists already is an error. */
  addCollection(path: string, options: CollectionOptions = {}): Collection {
    const p = normalizePath(path)
    const existing = this.#resources.get(p)
    if (existing?.type === 'Collection' && existing._implicit) {
      // made earlier as the parent of something: now asked for by name
      existing._implicit = false
      if (options.description !== undefined) existing.description = options.description
      return existing
    }
    this.#checkFree(p)
    const coll = new Collection(p, false, options.description)
    this.#attach(p, coll)
    return coll
  }

  /** The collection at `path`, or undefined. */
  getCollection(path: string): Collection | undefined {
    const r = this.lookup(path)
    return r?.type === 'Collection' ? r : undefined
  }

  /** The timeseries at a path or with a uuid, or undefined. */
  getTimeseries(pathOrUuid: string): Timeseries | undefined {
    const r = this.lookup(pathOrUuid)
    return r?.type === 'Timeseries' ? r : undefined
  }

  /** The resource at a path, or the timeseries with a uuid, or undefined. */
  lookup(pathOrUuid: string): Resource | undefined {
    const hit = this.#resources.get(pathOrUuid) ?? this.#byUuid.get(pathOrUuid)
    if (hit) return hit
    if (typeof pathOrUuid !== 'string') return undefined
    const byUuid = this.#byUuid.get(pathOrUuid.toLowerCase())
    if (byUuid) return byUuid
    try {
      return this.#resources.get(normalizePath(pathOrUuid))
    } catch {
      return undefined
    }
  }

  /**
   * Merges metadata into the resource at `path`; keys may be `Group/Name` or nested objects.
   * @example inst.setMetadata('/instrument0', { 'Instrument/Manufacturer': 'Dent' })
   */
  setMetadata(path: string, metadata: MetadataInput): void {
    const r = this.#require(path)
    mergeMetadata(r._metadata, metadata, r.path)
    r._metaVersion++
  }

  /**
   * Adds a reading to the stream at `path` (or with that uuid), stamped now or at `time` (Unix ms).
   * @example inst.add('/sensor0', 42)
   */
  add(path: string, value: ReadingValue): void
  add(path: string, time: number, value: ReadingValue): void
  add(path: string, a: number | ReadingValue, b?: ReadingValue): void {
    let ts = this.#resources.get(path)
    if (ts?.type !== 'Timeseries') ts = this.#requireTimeseries(path)
    if (b === undefined) ts.addAt(Date.now(), a)
    else ts.addAt(a as number, b)
  }

  /** Every resource at or below `path`, parents before children, in the order they were added. */
  *resources(path = '/'): Generator<Resource> {
    const start = this.#require(path)
    const stack: Resource[] = [start]
    while (stack.length > 0) {
      const r = stack.pop() as Resource
      yield r
      if (r.type === 'Collection') {
        for (let i = r._contents.length - 1; i >= 0; i--) {
          stack.push(this.#resources.get(childPath(r.path, r._contents[i] as string)) as Resource)
        }
      }
    }
  }

  /** Every timeseries at or below `path`. */
  *timeseries(path = '/'): Generator<Timeseries> {
    for (const r of this.resources(path)) if (r.type === 'Timeseries') yield r
  }

  /** Where outboxes and subscriptions are kept. */
  get dataDir(): string {
    return this.server.dataDir ?? (this.configFile ? join(dirname(this.configFile), '.smap') : resolvePath('.smap'))
  }

  /** Subscriptions by uuid (without starting the reporting machinery). */
  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.#reporter?.subscriptions ?? new Map()
  }

  /** The instance's subscriptions and their delivery (made on first use). */
  get reporter(): Reporter {
    if (!this.#reporter) {
      const s = this.server
      this.#reporter = new Reporter(this, {
        dataDir: this.dataDir,
        flushMs: s.flushInterval,
        fsync: s.fsync,
        timeoutMs: s.reportTimeout,
        backoffMs: s.retryBackoff,
        maxBackoffMs: s.maxRetryBackoff,
        logger: this.logger,
      })
      this.readingListeners.push(this.#reporter.onReading)
    }
    return this.#reporter
  }

  /**
   * Subscribes a destination to readings (DESIGN.md §8): they are kept in a
   * durable outbox and POSTed until acknowledged.
   * @example await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: 'http://localhost:8079/add' })
   */
  async addReport(report: Report, options: { origin?: 'config' | 'http'; where?: string; name?: string } = {}): Promise<ReportConfig> {
    const parsed = reportSchema.safeParse(report)
    if (!parsed.success) throw new SmapError('SMAP_REPORT_INVALID', `invalid report: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`)
    const config = normalizeReport(parsed.data, parsed.data.uuid?.toLowerCase() ?? randomUUID(), { allowedHosts: this.server.reportHosts, allowLinkLocal: this.server.allowLinkLocal })
    await this.reporter.add(config, options.origin ?? 'config', options.where, options.name)
    if (this.#started) await this.reporter.start()
    return config
  }

  /** Writes every reading added so far to the subscriptions' outboxes. */
  async flush(): Promise<void> {
    await this.#reporter?.flush()
  }

  /** Drivers attached to this instance, by path. */
  get drivers(): ReadonlyMap<string, DriverInstance> {
    return this.#drivers
  }

  /**
   * Attaches a driver at `path` (a collection made for it). Options are
   * validated against the driver's schema now; it is set up and started by
   * `start()` (which `serve` calls).
   * @example inst.addDriver('/instrument0', myDriver, { Rate: 5 })
   */
  addDriver(path: string, definition: DriverDefinition, options: Record<string, unknown> = {}, source: Partial<DriverSource> & SupervisionOptions = {}): DriverInstance {
    const def = parseDriverDefinition(definition, `the driver for ${String(path)}`)
    const p = normalizePath(path)
    if (this.#drivers.has(p)) throw new SmapError('SMAP_PATH_EXISTS', `a driver is already attached at ${p}`)
    for (const other of this.#drivers.keys()) {
      if (isWithin(other, p) || isWithin(p, other)) throw new SmapError('SMAP_PATH_EXISTS', `cannot attach a driver at ${p}: the driver at ${other} owns that part of the tree`)
    }
    const parsed = parseDriverOptions(def, options)
    if (!parsed.ok) {
      throw new SmapError('SMAP_DRIVER_OPTIONS', `invalid options for driver ${def.name} at ${p}: ${parsed.problems.map((x) => (x.key ? `${x.key}: ${x.message}` : x.message)).join('; ')}`)
    }
    const coll = p === '/' ? (this.#resources.get('/') as Collection) : this.addCollection(p, { description: source.description })
    const rawOptions = source.rawOptions ?? Object.fromEntries(Object.entries(options).map(([k, v]) => [k, String(v)]))
    const driver = new DriverInstance(this, p, def, parsed.options, { ...source, rawOptions, metadata: source.metadata ?? {} }, source)
    coll._owner = driver
    this.#drivers.set(p, driver)
    if (this.#started) void driver.setup().then((ok) => (ok ? driver.start() : undefined))
    return driver
  }

  /**
   * Sets up every driver, starts reporting, then starts every driver; driver
   * failures are logged and retried, never thrown. `{ drivers: false }` starts
   * only reporting (an import runs drivers' `load` itself).
   */
  async start(options: { drivers?: boolean } = {}): Promise<void> {
    if (this.#started) return
    this.#started = true
    if (options.drivers === false) return this.#startReporting()
    const drivers = [...this.#drivers.values()]
    const ready = await Promise.all(drivers.map((d) => d.setup()))
    // reporting starts once the drivers have built their streams, so a new
    // subscriber's first report holds them
    await this.#startReporting()
    await Promise.all(drivers.filter((_, i) => ready[i]).map((d) => d.start()))
  }

  /** Starts delivery; subscriptions made over HTTP in an earlier run come back, with what they had not delivered. */
  async #startReporting(): Promise<void> {
    if (this.#reporter || existsSync(join(this.dataDir, 'subscriptions.db'))) await this.reporter.start()
  }

  /** Stops every driver (each within its deadline). */
  async stop(): Promise<void> {
    this.#started = false
    await Promise.all([...this.#drivers.values()].map((d) => d.stop()))
    await this.#reporter?.stop()
  }

  /** What `GET /status` shows. */
  async status(): Promise<{ root: string; drivers: Record<string, DriverStatus>; reports: Record<string, unknown> }> {
    const drivers: Record<string, DriverStatus> = {}
    for (const [p, d] of this.#drivers) drivers[p] = d.status()
    return { root: this.root, drivers, reports: (await this.#reporter?.status()) ?? {} }
  }

  #require(path: string): Resource {
    const r = this.lookup(path)
    if (!r) throw new SmapError('SMAP_PATH_NOT_FOUND', `no resource at ${describePath(path)}`)
    return r
  }

  #requireTimeseries(path: string): Timeseries {
    const r = this.#require(path)
    if (r.type !== 'Timeseries') throw new SmapError('SMAP_NOT_TIMESERIES', `${r.path} is a collection; readings can only be added to a timeseries`)
    return r
  }

  #checkFree(p: string): void {
    const existing = this.#resources.get(p)
    if (existing) {
      throw new SmapError('SMAP_PATH_EXISTS', `cannot add ${p}: a ${existing.type === 'Collection' ? 'collection' : 'timeseries'} already exists there`)
    }
    // every ancestor must be (or become) a collection
    for (let a = parentPath(p); ; a = parentPath(a)) {
      const r = this.#resources.get(a)
      if (r?.type === 'Timeseries') throw new SmapError('SMAP_PATH_INVALID', `cannot add ${p}: ${a} is a timeseries, and only collections hold other resources`)
      if (a === '/' || r) break
    }
  }

  #attach(p: string, r: Resource): void {
    const parent = parentPath(p)
    let coll = this.#resources.get(parent) as Collection | undefined
    if (!coll) {
      coll = new Collection(parent, true)
      this.#attach(parent, coll)
    }
    coll._contents.push(baseName(p))
    this.#resources.set(p, r)
  }
}

function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`
}

function describePath(path: unknown): string {
  return typeof path === 'string' ? path : String(path)
}
