import type { DriverDefinition } from '@smap/sdk'
import { smapError } from '../errors.js'
import type { Collection } from '../tree/collection.js'
import { isWithin, normalizePath } from '../tree/path.js'
import { checkDriverOptions, parseDriverDefinition } from './definition.js'
import { DriverInstance, type DriverEnv, type DriverSource, type DriverStatus, type SupervisionOptions } from './driver-instance.js'
import type { ActuatorPoint } from './actuator-point.js'
import { isolate } from './isolate.js'

/** The drivers of a source: where each is attached, their lifecycle as a whole, their status. */
export class DriverHost {
  readonly #env: DriverEnv
  readonly #drivers = new Map<string, DriverInstance>()
  #started = false

  constructor(env: DriverEnv) {
    this.#env = env
  }

  /** Drivers by the path they are attached at. */
  get drivers(): ReadonlyMap<string, DriverInstance> {
    return this.#drivers
  }

  /** Attaches a driver at `path` (a collection made for it), its options checked by its schema now. */
  add(path: string, definition: DriverDefinition, options: Record<string, unknown>, source: Partial<DriverSource> & SupervisionOptions = {}): DriverInstance {
    const def = parseDriverDefinition(definition, `the driver for ${String(path)}`)
    const p = normalizePath(path)
    if (this.#drivers.has(p)) throw smapError('SMAP_PATH_EXISTS', `a driver is already attached at ${p}`)
    for (const other of this.#drivers.keys()) {
      if (isWithin(other, p) || isWithin(p, other)) throw smapError('SMAP_PATH_EXISTS', `cannot attach a driver at ${p}: the driver at ${other} owns that part of the tree`)
    }
    const parsed = checkDriverOptions(def, options, p)
    const tree = this.#env.tree
    const coll = p === '/' ? (tree.getCollection('/') as Collection) : tree.addCollection(p, { description: source.description })
    const rawOptions = source.rawOptions ?? Object.fromEntries(Object.entries(options).map(([k, v]) => [k, String(v)]))
    // in a worker, the driver starts from the state this instance keeps
    const self: { driver?: DriverInstance } = {}
    const run = source.isolation
      ? isolate(def, source.isolation.module, { memoryMb: source.isolation.memoryMb }, {
          state: () => self.driver?.stateSnapshot() ?? {},
          fault: (err) => self.driver?.fault('worker', err),
          setUpAgain: () => self.driver?.applySectionMetadata(),
        })
      : def
    const driver = (self.driver = new DriverInstance(this.#env, p, run, parsed, { ...source, rawOptions, metadata: source.metadata ?? {} }, source))
    coll._owner = driver
    this.#drivers.set(p, driver)
    if (this.#started) void driver.setup().then((ok) => (ok ? driver.start() : undefined))
    return driver
  }

  /** Sets up every driver, then runs `between` (reporting starts there), then starts those whose setup succeeded. */
  async start(between: () => Promise<void>): Promise<void> {
    this.#started = true
    const drivers = [...this.#drivers.values()]
    const ready = await Promise.all(drivers.map((d) => d.setup()))
    await between()
    await Promise.all(drivers.filter((_, i) => ready[i]).map((d) => d.start()))
  }

  /** Stops every driver, each within its deadline. */
  async stop(): Promise<void> {
    this.#started = false
    await Promise.all([...this.#drivers.values()].map((d) => d.stop()))
  }

  /** The actuator point at a full path, if a driver declared one there. */
  point(path: string): ActuatorPoint | undefined {
    for (const d of this.#drivers.values()) {
      const p = d.points.get(path)
      if (p) return p
    }
    return undefined
  }

  /** Every actuator point, driver by driver. */
  *points(): Generator<ActuatorPoint> {
    for (const d of this.#drivers.values()) yield* d.points.values()
  }

  /** Drivers with a poll running now, or begun since `since` (wall-clock ms), as `path (driver)`. */
  polledSince(since: number): string[] {
    return [...this.#drivers.values()].filter((d) => d.polling || d.lastPollStart >= since).map((d) => `${d.path} (${d.label})`)
  }

  status(): Record<string, DriverStatus> {
    const out: Record<string, DriverStatus> = {}
    for (const [p, d] of this.#drivers) out[p] = d.status()
    return out
  }
}
