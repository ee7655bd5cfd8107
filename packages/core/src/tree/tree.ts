import type { MetadataInput, ReadingValue } from '@smap/sdk'
import { FieldError, smapError } from '../errors.js'
import { Collection } from './collection.js'
import { parseUuid, uuid5 } from './identity.js'
import { mergeMetadata } from './metadata.js'
import { baseName, childPath, normalizePath, parentPath } from './path.js'
import { checkTimezone } from './reading.js'
import { Timeseries, type ReadingListener, type TimeseriesHome, type TimeseriesOptions } from './timeseries.js'

/** A resource of the tree. */
export type Resource = Collection | Timeseries

export const DEFAULT_TIMEZONE = 'America/Los_Angeles'

/** Options of `addCollection`. */
export interface CollectionOptions {
  description?: string
}

/** What reporting and the HTTP layer need of a tree: lookups, walks and a subscription to readings. */
export type TreeView = Pick<Tree, 'root' | 'lookup' | 'getCollection' | 'getTimeseries' | 'resources' | 'timeseries' | 'onReading'>

/**
 * The resource model: collections and timeseries under a root uuid, with the
 * rules every source and every driver test follows (paths, keys and uuids,
 * units, reading types, time zones, metadata).
 */
export class Tree implements TimeseriesHome {
  /** The root uuid: the source's durable identity. */
  readonly root: string
  #listeners: readonly ReadingListener[] = []
  #timezone: string
  readonly #resources = new Map<string, Resource>()
  readonly #byUuid = new Map<string, Timeseries>()
  #streams = 0

  constructor(root: string, timezone?: string) {
    this.root = parseUuid(String(root), 'the root uuid')
    this.#timezone = timezone === undefined ? DEFAULT_TIMEZONE : checkTimezone(timezone, 'the root')
    this.#resources.set('/', new Collection('/', false))
  }

  /** Default time zone of streams that do not set their own. */
  get timezone(): string {
    return this.#timezone
  }

  set timezone(zone: string) {
    this.#timezone = checkTimezone(zone, 'the root')
  }

  /** @internal read by every stream on every reading. */
  get listeners(): readonly ReadingListener[] {
    return this.#listeners
  }

  /** Calls `listener` for every reading added to any stream; returns the function that stops it. */
  onReading(listener: ReadingListener): () => void {
    this.#listeners = [...this.#listeners, listener]
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener)
    }
  }

  /** Adds a timeseries, creating missing parent collections. */
  addTimeseries(path: string, opts: TimeseriesOptions): Timeseries {
    const p = normalizePath(path)
    if (p === '/') throw smapError('SMAP_PATH_EXISTS', 'cannot add a timeseries at /: the root is always a collection')
    this.#checkFree(p)
    if (opts.key !== undefined && (typeof opts.key !== 'string' || opts.key === '')) {
      throw smapError('SMAP_KEY_INVALID', `timeseries ${p}: a key must be a non-empty string, got ${JSON.stringify(opts.key)}`)
    }
    if (opts.key !== undefined && opts.uuid !== undefined) {
      throw new FieldError('SMAP_KEY_INVALID', `timeseries ${p}: give a key or a uuid, not both`, 'uuid', 'a key or a uuid, not both: the uuid is derived from the key')
    }
    const explicitUuid = opts.uuid !== undefined
    const namespace = opts.namespace ?? this.root
    const id = explicitUuid ? parseUuid(opts.uuid as string, `the uuid of ${p}`) : uuid5(namespace, opts.key ?? p)
    const clash = this.#byUuid.get(id)
    if (clash) {
      throw smapError(
        'SMAP_KEY_DUPLICATE',
        opts.key !== undefined
          ? `timeseries ${p}: key "${opts.key}" is already used by ${clash.path}; keys must be unique in a ${namespace === this.root ? 'source' : 'driver'}`
          : `timeseries ${p}: uuid ${id} is already used by ${clash.path}`,
      )
    }
    const ts = new Timeseries(this, this.#streams, p, id, { ...opts, explicitUuid })
    this.#streams++
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
    if (pathOrUuid.charCodeAt(0) !== 0x2f) {
      // not a path: a uuid in upper case, or a path without its leading /
      const byUuid = this.#byUuid.get(pathOrUuid.toLowerCase())
      if (byUuid) return byUuid
    }
    try {
      return this.#resources.get(normalizePath(pathOrUuid))
    } catch {
      return undefined
    }
  }

  /** Merges metadata into the resource at `path`; keys may be `Group/Name` or nested objects. */
  setMetadata(path: string, metadata: MetadataInput): void {
    const r = this.require(path)
    mergeMetadata(r._metadata, metadata, r.path)
    r._metaVersion++
  }

  /** Adds a reading to the stream at `path` (or with that uuid): `(value)` stamped by `now`, or `(time, value)`. */
  add(path: string, a: number | ReadingValue, b: ReadingValue | undefined, now: () => number = Date.now): void {
    let ts = this.#resources.get(path)
    if (ts?.type !== 'Timeseries') ts = this.#requireTimeseries(path)
    ts._addEither(now, a, b)
  }

  /** Every resource at or below `path`, parents before children, in the order they were added. */
  *resources(path = '/'): Generator<Resource> {
    const start = this.require(path)
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

  /** The resource at a path (or uuid), or an error naming it. */
  require(path: string): Resource {
    const r = this.lookup(path)
    if (!r) throw smapError('SMAP_PATH_NOT_FOUND', `no resource at ${String(path)}`)
    return r
  }

  #requireTimeseries(path: string): Timeseries {
    const r = this.require(path)
    if (r.type !== 'Timeseries') throw smapError('SMAP_NOT_TIMESERIES', `${r.path} is a collection; readings can only be added to a timeseries`)
    return r
  }

  #checkFree(p: string): void {
    const existing = this.#resources.get(p)
    if (existing) {
      throw smapError('SMAP_PATH_EXISTS', `cannot add ${p}: a ${existing.type === 'Collection' ? 'collection' : 'timeseries'} already exists there`)
    }
    // every ancestor must be (or become) a collection
    for (let a = parentPath(p); ; a = parentPath(a)) {
      const r = this.#resources.get(a)
      if (r?.type === 'Timeseries') throw smapError('SMAP_PATH_INVALID', `cannot add ${p}: ${a} is a timeseries, and only collections hold other resources`)
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
