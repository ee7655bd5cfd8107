import type { ActuatorHandle, DriverActuatorOptions, DriverContext, DriverHealth, DriverJob, DriverLogger, DriverPeriodicOptions, DriverStateStore, DriverTimeseriesOptions, ReadingValue, TimeseriesHandle } from '@smap/sdk'
import type { Clock } from '../clock.js'
import { smapError } from '../errors.js'
import { ActuatorModel } from '../tree/actuator.js'
import { normalizePath, pathBelow } from '../tree/path.js'
import type { Timeseries } from '../tree/timeseries.js'
import type { Tree } from '../tree/tree.js'
import { uuid5 } from '../tree/identity.js'
import type { ActuatorPoint } from './actuator-point.js'

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
  /** A point was declared on the stream `ts` (again, after a restarted setup: the same point, its newest functions). */
  declareActuator(ts: Timeseries, model: ActuatorModel, options: DriverActuatorOptions): ActuatorPoint
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
  const stream = (path: string, o: DriverTimeseriesOptions): Timeseries => {
    const p = full(path)
    const key = o.key ?? normalizePath(path)
    const existing = tree.getTimeseries(p)
    // a restarted setup finds its own streams again
    if (existing && existing._owner === owner && existing.uuid === uuid5(owner.namespace, key)) return existing
    const ts = tree.addTimeseries(p, { ...o, key, namespace: owner.namespace })
    ts._owner = owner
    return ts
  }
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
      return handle(stream(path, o))
    },
    addActuator: (path, options): ActuatorHandle => {
      if (typeof options !== 'object' || options === null) throw smapError('SMAP_ACTUATOR_INVALID', `actuator ${full(path)}: give its options, e.g. { unit: 'C', model: 'continuous', min: 10, max: 30, write }`)
      const { write, read, readInterval, timeout } = options
      if (typeof write !== 'function') throw smapError('SMAP_ACTUATOR_INVALID', `actuator ${full(path)}: \`write\` must be a function that changes the device, got ${typeof write}`)
      if (read !== undefined && typeof read !== 'function') throw smapError('SMAP_ACTUATOR_INVALID', `actuator ${full(path)}: \`read\` must be a function that reads the device, got ${typeof read}`)
      for (const [name, v] of [['readInterval', readInterval], ['timeout', timeout]] as const) {
        if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) throw smapError('SMAP_ACTUATOR_INVALID', `actuator ${full(path)}: \`${name}\` must be a number of seconds above 0, got ${String(v)}`)
      }
      const model = new ActuatorModel(options, full(path))
      const ts = stream(path, { unit: options.unit, key: options.key, description: options.description, readingType: model.readingType })
      if (ts._actuator && JSON.stringify(ts._actuator.toJSON()) !== JSON.stringify(model.toJSON())) ts._metaVersion++
      ts._actuator = model
      const point = owner.declareActuator(ts, model, options)
      return { path: ts.path, uuid: ts.uuid, report: (value) => point.report(value) }
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
