import type { DriverContext, DriverHealth, DriverJob, DriverLogger, DriverPeriodicOptions, DriverStateStore, DriverTimeseriesOptions, ReadingValue, TimeseriesHandle } from '@smap/sdk'
import type { Clock } from '../clock.js'
import { normalizePath, pathBelow } from '../tree/path.js'
import type { Timeseries } from '../tree/timeseries.js'
import type { Tree } from '../tree/tree.js'
import { uuid5 } from '../tree/identity.js'

/** What a driver's context is made of: the driver instance's side of it. */
export interface ContextOwner {
  readonly path: string
  readonly namespace: string
  readonly tree: Tree
  readonly clock: Clock
  readonly logger: DriverLogger
  readonly stateStore: DriverStateStore
  readonly signal: AbortSignal
  /** A stream of the driver got a reading. */
  noteReading(): void
  setHealth(health: DriverHealth): void
  periodic(fn: (signal: AbortSignal) => unknown, seconds: number, options: DriverPeriodicOptions): DriverJob
}

/**
 * The driver's view of the tree (`ctx`): paths relative to where it is
 * attached, uuids from its namespace, readings stamped by its clock.
 */
export function createContext(owner: ContextOwner): DriverContext {
  const { tree, clock } = owner
  const now = (): number => clock.now()
  // Every ctx.add passes here: normalizing a path costs ten times the add
  // itself, so each path a driver uses is worked out once.
  const paths = new Map<string, string>()
  const full = (path: string): string => {
    let out = paths.get(path)
    if (out === undefined) {
      out = pathBelow(owner.path, normalizePath(path))
      if (paths.size < 100_000) paths.set(path, out)
    }
    return out
  }
  const handle = (ts: Timeseries): TimeseriesHandle => ({
    path: ts.path,
    uuid: ts.uuid,
    add: (a: number | ReadingValue, b?: ReadingValue) => {
      ts._addEither(now, a, b)
      owner.noteReading()
    },
  })
  return {
    path: owner.path,
    namespace: owner.namespace,
    get signal() {
      return owner.signal
    },
    logger: owner.logger,
    now,
    uuid: (key) => uuid5(owner.namespace, key),
    state: owner.stateStore,
    setHealth: (h) => owner.setHealth({ ...h, ...(h.stale === undefined ? {} : { stale: h.stale.map(full) }) }),
    addTimeseries: (path: string, keyOrOptions: string | DriverTimeseriesOptions, unit?: string, more?: Omit<DriverTimeseriesOptions, 'unit' | 'key'>) => {
      const o: DriverTimeseriesOptions = typeof keyOrOptions === 'string' ? { ...more, key: keyOrOptions, unit: unit as string } : keyOrOptions
      const p = full(path)
      const key = o.key ?? normalizePath(path)
      const existing = tree.getTimeseries(p)
      // a restarted setup finds its own streams again
      if (existing && existing._owner === owner && existing.uuid === uuid5(owner.namespace, key)) return handle(existing)
      const ts = tree.addTimeseries(p, { ...o, key, namespace: owner.namespace })
      ts._owner = owner
      return handle(ts)
    },
    addCollection: (path, options) => {
      const p = full(path)
      const existing = tree.getCollection(p)
      if (existing && (existing._owner === owner || p === owner.path)) return
      tree.addCollection(p, options)._owner = owner
    },
    setMetadata: (path, metadata) => tree.setMetadata(full(path), metadata),
    add: (path: string, a: number | ReadingValue, b?: ReadingValue) => {
      tree.add(full(path), a, b, now)
      owner.noteReading()
    },
    periodic: (fn, seconds, options = {}) => owner.periodic(fn, seconds, options),
  }
}
