import type { ReadingValue } from '@smap/sdk'
import { Collection } from './collection.js'
import { SmapError } from '@smap/sdk'
import { parseUuid, uuid5 } from '@smap/sdk'
import { createConsoleLogger, type Logger } from './logger.js'
import { mergeMetadata, type MetadataInput } from '@smap/sdk'
import { baseName, normalizePath, parentPath } from '@smap/sdk'
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
  dataDir?: string
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
    const id = explicitUuid ? parseUuid(opts.uuid as string, `the uuid of ${p}`) : this.uuid(opts.key ?? p)
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
