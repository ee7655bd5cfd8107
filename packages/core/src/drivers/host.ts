import type { DriverDefinition } from '@smap/sdk'
import { smapError } from '../errors.js'
import type { Collection } from '../tree/collection.js'
import { isWithin, normalizePath } from '../tree/path.js'
import { checkDriverOptions, parseDriverDefinition } from './definition.js'
import type { DisabledFile } from './disabled-file.js'
import { DriverInstance, type DriverEnv, type DriverSource, type DriverStatus, type SupervisionOptions } from './driver-instance.js'
import type { ActuatorPoint } from './actuator-point.js'
import { isolate } from './isolate.js'

/** The drivers of a source: where each is attached, their lifecycle as a whole, their status. */
export class DriverHost {
  readonly #env: DriverEnv
  readonly #drivers = new Map<string, DriverInstance>()
  readonly #disabled: DisabledFile | undefined
  #started = false
  #control: Promise<unknown> = Promise.resolve()

  /** `disabled` keeps which drivers an operator turned off; without it, a disable lasts until the process ends. */
  constructor(env: DriverEnv, disabled?: DisabledFile) {
    this.#env = env
    this.#disabled = disabled
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
    if (this.#started) {
      const off = this.#disabled?.get(p) ? driver.setDisabled(true) : Promise.resolve()
      void off.then(() => driver.setup()).then((ok) => (ok ? driver.start() : undefined))
    }
    return driver
  }

  /** Sets up every driver, then runs `between` (reporting starts there), then starts those whose setup succeeded. */
  async start(between: () => Promise<void>): Promise<void> {
    this.#started = true
    const drivers = [...this.#drivers.values()]
    // setups begin at once; a disabled driver is set up too (its streams show, stale), then not started
    const reading = this.#disabled?.read()
    reading?.catch(() => {}) // awaited below, after the setups
    const ready = await Promise.all(drivers.map((d) => d.setup()))
    if (reading && this.#disabled) {
      const { damaged } = await reading
      if (damaged) this.#env.logger.error(damaged)
      for (const d of drivers) if (this.#disabled.get(d.path)) await d.setDisabled(true)
    }
    await between()
    await Promise.all(drivers.filter((_, i) => ready[i]).map((d) => d.start()))
  }

  /** Stops every driver, each within its deadline. */
  async stop(): Promise<void> {
    this.#started = false
    await Promise.all([...this.#drivers.values()].map((d) => d.stop()))
  }

  /**
   * Restarts the driver at `path` now, its backoff reset; resolves once the
   * old run has stopped (the new one is starting). Refused while the source
   * is not running, and for a disabled driver.
   */
  restart(path: string): Promise<DriverInstance> {
    return this.#controlled(path, async (d) => {
      if (!this.#started) throw smapError('SMAP_DRIVER_NOT_RUNNING', `the drivers of this source are not running (it is starting or stopping); try again in a moment`)
      const { started } = await d.restart()
      void started
    })
  }

  /** Disables the driver at `path` (stopping it) or enables it (starting it); kept across restarts. `by` is who, as `via:name`. */
  setDisabled(path: string, disabled: boolean, by: string): Promise<DriverInstance> {
    return this.#controlled(path, async (d) => {
      if (d.disabled === disabled) return
      try {
        await this.#disabled?.set(path, disabled ? { since: Date.now(), by } : undefined)
      } catch (err) {
        throw smapError('SMAP_DRIVERS_FILE', `cannot save ${this.#disabled?.file ?? 'the disabled drivers'} (${(err as Error).message}); driver ${path} was left ${disabled ? 'enabled' : 'disabled'}`, { cause: err })
      }
      await d.setDisabled(disabled)
      if (!disabled && this.#started) void d.setup().then((ok) => (ok ? d.start() : undefined))
    })
  }

  /** One control at a time, in the order asked. */
  #controlled(path: string, work: (d: DriverInstance) => Promise<void>): Promise<DriverInstance> {
    const d = this.#drivers.get(path)
    if (!d) return Promise.reject(smapError('SMAP_PATH_NOT_FOUND', `no driver is attached at ${path}`))
    const run = this.#control.then(() => work(d)).then(() => d)
    this.#control = run.catch(() => {})
    return run
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
