import { checkDriverOptions, DriverHost, memoryStateBackend, normalizePath, parseDriverDefinition, pathBelow, relativePath, SmapError, Tree, type DriverInstance, type Timeseries } from '@smap/core'
import type { ActuatorObject, DriverContext, DriverDefinition, DriverHealth, LoadRange, Metadata, OptionsSchema, Principal, Reading, ReadingType, z } from '@smap/sdk'
import { ManualClock } from './clock.js'

/** Options of `createHarness`. */
export interface HarnessOptions {
  /** Root uuid of the pretend source (default the tutorial's). */
  root?: string
  /** Where the driver is attached (default `/`). */
  path?: string
  /** The section's key, which names the driver's uuid namespace instead of the path. */
  key?: string
  /** Start time of the controllable clock, Unix ms (default 2024-01-01T00:00:00Z). */
  now?: number
  /** Least seconds between two writes to one actuator point, as a section's `MinWriteInterval` sets it (default 1). */
  minWriteInterval?: number
  /** The driver's durable state as a previous run left it (see `harness.state()`), to test a restart. */
  state?: Record<string, unknown>
}

/** A stream the driver created, with every reading it added. */
export interface RecordedTimeseries {
  /** Path relative to the driver, e.g. `/sensor0`. */
  path: string
  /** Path in the whole tree. */
  fullPath: string
  uuid: string
  key: string
  unit: string
  readingType: ReadingType
  timezone?: string
  description?: string
  bufferSize?: number
  metadata: Metadata
  readings: Reading[]
  /** On an actuator point: how it can be changed, as served. */
  actuator?: ActuatorObject
}

/** What `harness.write` did: the state the point reached, and the reading added for it. */
export interface HarnessWriteResult {
  state: number | string
  reading: Reading
}

/** A driver running on the real tree and driver host, with a clock the test controls. */
export interface DriverHarness<S extends OptionsSchema = OptionsSchema> {
  readonly ctx: DriverContext
  /** The options after the driver's schema parsed them (defaults applied). */
  readonly options: z.output<S>
  /** Failures the host logged and restarted the driver for (throws, timeouts), oldest first. */
  readonly errors: Error[]
  /** Everything the driver logged with `ctx.logger`. */
  readonly logs: Array<{ level: 'info' | 'warn' | 'error'; message: string }>
  /** What the driver last said with `ctx.setHealth` (stale paths driver-relative). */
  health(): DriverHealth | undefined
  /** A copy of the driver's durable state (`ctx.state`), e.g. to start another harness as a restart. */
  state(): Record<string, unknown>
  /** The harness clock, Unix ms. */
  now(): number
  /** Runs the driver's `start`, and the periodic runs due at once. */
  start(): Promise<void>
  /** Moves the clock forward, running each timer that falls due (polls, restarts), in time order. */
  advance(seconds: number): Promise<void>
  /** Runs the driver's `load` for a range. */
  load(range: LoadRange): Promise<void>
  /** Stops jobs, fires the abort signal and runs the driver's `stop`. */
  stop(): Promise<void>
  /** Every stream the driver made, in creation order. */
  timeseries(): RecordedTimeseries[]
  /** The stream at a driver-relative path. */
  get(path: string): RecordedTimeseries | undefined
  /** Readings of the stream at a driver-relative path (an error if there is none). */
  readings(path: string): Reading[]
  /** Metadata the driver set on a driver-relative path (collections included). */
  metadata(path: string): Metadata
  /** Driver-relative paths of the collections the driver made. */
  collections(): string[]
  /**
   * Writes `state` to the actuator point at a driver-relative path, as a
   * client's `PUT /data/PATH?state=...` would once the driver runs: the same
   * checks (the model, the minimum interval between writes), the same queue,
   * the same deadline on the harness clock. Rejects with the error a client
   * would get (its `code`, e.g. `SMAP_STATE_INVALID`, `SMAP_ACTUATE_REFUSED`).
   */
  write(path: string, state: unknown, principal?: Principal): Promise<HarnessWriteResult>
}

const DEFAULT_ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet = { info: () => {}, warn: () => {}, error: () => {} }

/**
 * Runs a driver definition with the given (config-style) options on the real
 * tree and driver host, without a server or files: the same option checks,
 * paths, uuids, reading types, supervision and restarts as `smap run`, on a
 * clock the test moves. Setup runs now; a setup that throws rejects.
 * @example
 * const h = await createHarness(driver, { Rate: '1' })
 * await h.start()
 * await h.advance(2)
 * expect(h.readings('/sensor0').map(([, v]) => v)).toEqual([0, 1, 2])
 */
export async function createHarness<S extends OptionsSchema>(
  definition: DriverDefinition<S>,
  rawOptions: Record<string, unknown> = {},
  init: HarnessOptions = {},
): Promise<DriverHarness<S>> {
  const def = parseDriverDefinition(definition, `driver "${String((definition as { name?: unknown })?.name)}"`)
  checkDriverOptions(def, rawOptions) // the host's message, without an attach path
  const tree = new Tree(init.root ?? DEFAULT_ROOT)
  const clock = new ManualClock(init.now ?? Date.UTC(2024, 0, 1))
  const errors: Error[] = []
  const logs: DriverHarness['logs'] = []
  const state = memoryStateBackend(init.state)
  const host = new DriverHost({
    tree,
    clock,
    logger: quiet,
    driverLogger: {
      info: (message) => logs.push({ level: 'info', message }),
      warn: (message) => logs.push({ level: 'warn', message }),
      error: (message, error) => logs.push({ level: 'error', message: error instanceof Error ? `${message}: ${error.message}` : message }),
    },
    stateBackend: () => state,
    flush: async () => {},
    onFailure: (_path, _phase, err) => errors.push(err instanceof Error ? err : new Error(String(err))),
  })
  const attach = normalizePath(init.path ?? '/')
  const driver: DriverInstance = host.add(attach, def, rawOptions, { key: init.key, ...(init.minWriteInterval === undefined ? {} : { minWriteIntervalMs: init.minWriteInterval * 1000 }) })
  const recorded = new Map<Timeseries, Reading[]>()
  tree.onReading((ts, time, value) => {
    if (ts._owner !== driver) return
    let r = recorded.get(ts)
    if (!r) recorded.set(ts, (r = []))
    r.push([time, value])
  })
  const full = (rel: string): string => pathBelow(attach, normalizePath(rel))
  const relative = (p: string): string => relativePath(attach, p)
  const own = (): Timeseries[] => [...tree.timeseries(attach)].filter((ts) => ts._owner === driver).sort((a, b) => a._seq - b._seq)
  const stream = (path: string): Timeseries | undefined => {
    const ts = tree.getTimeseries(full(path))
    return ts && ts._owner === driver ? ts : undefined
  }
  const record = (ts: Timeseries): RecordedTimeseries => {
    const out: RecordedTimeseries = {
      path: relative(ts.path),
      fullPath: ts.path,
      uuid: ts.uuid,
      key: ts.key ?? relative(ts.path),
      unit: ts.unit,
      readingType: ts.readingType,
      metadata: ts.metadata,
      readings: recorded.get(ts) ?? [],
    }
    if (ts.ownTimezone !== undefined) out.timezone = ts.ownTimezone
    if (ts.description !== undefined) out.description = ts.description
    if (ts.bufferSize !== 1) out.bufferSize = ts.bufferSize
    if (ts._actuator) out.actuator = ts._actuator.toJSON()
    return out
  }
  const settle = async (): Promise<void> => {
    await driver.settled()
    await new Promise((r) => setImmediate(r))
    await driver.settled()
  }

  await driver.setupOnce()

  const harness: DriverHarness<S> = {
    ctx: driver.ctx,
    options: driver.options as z.output<S>,
    errors,
    logs,
    health: () => {
      const h = driver.health
      if (h === null) return undefined
      return { healthy: h.healthy, ...(h.message === undefined ? {} : { message: h.message }), ...(h.stale === undefined ? {} : { stale: h.stale.map(relative) }) }
    },
    state: () => driver.stateSnapshot(),
    now: () => clock.now(),
    async start() {
      await driver.start()
      await harness.advance(0)
    },
    async advance(seconds) {
      await clock.advanceTo(clock.now() + seconds * 1000, settle)
    },
    load: (range) => driver.load(range),
    stop: () => driver.stop(),
    timeseries: () => own().map(record),
    get: (path) => {
      const ts = stream(path)
      return ts && record(ts)
    },
    readings: (path) => {
      const ts = stream(path)
      if (!ts) throw new SmapError('SMAP_PATH_NOT_FOUND', `no resource at ${full(path)}`)
      return recorded.get(ts) ?? []
    },
    metadata: (path) => {
      const r = tree.lookup(full(path))
      if (!r || !(attach === '/' || r.path === attach || r.path.startsWith(`${attach}/`))) {
        throw new SmapError('SMAP_PATH_NOT_FOUND', `no resource at ${full(path)}`)
      }
      return r.metadata
    },
    collections: () => [...tree.resources(attach)].filter((r) => r.type === 'Collection').map((r) => relative(r.path)),
    async write(path, state, principal = { via: 'harness', name: 'test' }) {
      const point = driver.points.get(full(path))
      if (!point) throw new SmapError(stream(path) ? 'SMAP_NOT_ACTUATOR' : 'SMAP_PATH_NOT_FOUND', stream(path) ? `${full(path)} is not an actuator point` : `no resource at ${full(path)}`)
      const done = point.write(state, principal)
      done.catch(() => {}) // told below, once the device had its turn
      // the write's deadline runs on the harness clock: let the device answer first
      await settle()
      return await done
    },
  }
  return harness
}
