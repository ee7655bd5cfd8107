import type { z } from 'zod'
import {
  parseDriverDefinition,
  parseDriverOptions,
  type DriverContext,
  type DriverDefinition,
  type DriverHealth,
  type DriverJob,
  type DriverTimeseriesOptions,
  type LoadRange,
  type OptionsSchema,
  type TimeseriesHandle,
} from './driver.js'
import { SmapError } from './errors.js'
import { parseUuid, uuid5 } from './identity.js'
import { mergeMetadata, type MetadataInput } from './metadata.js'
import { normalizePath } from './path.js'
import { checkReading } from './reading.js'
import type { Metadata, Reading, ReadingType, ReadingValue } from './schemas.js'

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
}

/** A driver running against an in-memory source and a clock the test controls. */
export interface DriverHarness<S extends OptionsSchema = OptionsSchema> {
  readonly ctx: DriverContext
  /** The options after the driver's schema parsed them (defaults applied). */
  readonly options: z.output<S>
  /** Failures the host would log and restart the driver for (throws, timeouts). */
  readonly errors: Error[]
  /** Everything the driver logged. */
  readonly logs: Array<{ level: 'info' | 'warn' | 'error'; message: string }>
  /** What the driver last said with `ctx.setHealth`. */
  health(): DriverHealth | undefined
  /** A copy of the driver's durable state (`ctx.state`), e.g. to start another harness as a restart. */
  state(): Record<string, unknown>
  /** The harness clock, Unix ms. */
  now(): number
  /** Runs the driver's `start`. */
  start(): Promise<void>
  /** Moves the clock forward, running each periodic job that falls due, in time order. */
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
}

const DEFAULT_ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

interface Job {
  fn: (signal: AbortSignal) => unknown
  periodMs: number
  next: number
  timeoutMs: number | undefined
  stopped: boolean
}

/**
 * Runs a driver definition with the given (config-style) options against an
 * in-memory source, without a server, applying the same rules as the host:
 * option validation, relative paths, namespaced uuids, reading types.
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
  const def = parseDriverDefinition(definition, `driver "${String((definition as { name?: unknown })?.name)}"`) as unknown as DriverDefinition<S>
  const parsed = parseDriverOptions(def as unknown as DriverDefinition, rawOptions)
  if (!parsed.ok) {
    throw new SmapError('SMAP_DRIVER_OPTIONS', `invalid options for driver ${def.name}: ${parsed.problems.map((p) => (p.key ? `${p.key}: ${p.message}` : p.message)).join('; ')}`)
  }
  const options = parsed.options as z.output<S>
  const root = parseUuid(init.root ?? DEFAULT_ROOT, 'the harness root')
  const attach = normalizePath(init.path ?? '/')
  const namespace = uuid5(root, init.key ?? attach)
  let clock = init.now ?? Date.UTC(2024, 0, 1)
  let controller = new AbortController()
  const streams = new Map<string, RecordedTimeseries>()
  const collections = new Map<string, Metadata>([['/', {}]])
  const uuids = new Map<string, string>()
  const jobs: Job[] = []
  const errors: Error[] = []
  const logs: DriverHarness['logs'] = []
  let health: DriverHealth | undefined
  const state = new Map<string, unknown>(Object.entries(structuredClone(init.state ?? {})))

  const rel = (path: string): string => normalizePath(path)
  const full = (r: string): string => (attach === '/' ? r : r === '/' ? attach : `${attach}${r}`)
  const ensureParents = (r: string): void => {
    const parts = r.split('/').filter(Boolean)
    for (let i = 1; i < parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`
      if (streams.has(p)) throw new SmapError('SMAP_PATH_INVALID', `cannot add ${full(r)}: ${full(p)} is a timeseries, and only collections hold other resources`)
      if (!collections.has(p)) collections.set(p, {})
    }
  }
  const requireStream = (path: string): RecordedTimeseries => {
    const ts = streams.get(rel(path))
    if (!ts) throw new SmapError('SMAP_PATH_NOT_FOUND', `no resource at ${full(rel(path))}`)
    return ts
  }
  const record = (ts: RecordedTimeseries, time: number, value: ReadingValue): void => {
    checkReading(ts.fullPath, ts.readingType, time, value)
    ts.readings.push([time, value])
  }
  const handle = (ts: RecordedTimeseries): TimeseriesHandle => ({
    path: ts.fullPath,
    uuid: ts.uuid,
    add: (a: number | ReadingValue, b?: ReadingValue) => (b === undefined ? record(ts, clock, a) : record(ts, a as number, b)),
  })
  const fail = (err: unknown): void => {
    errors.push(err instanceof Error ? err : new Error(String(err)))
  }

  const ctx: DriverContext = {
    path: attach,
    namespace,
    get signal() {
      return controller.signal
    },
    logger: {
      info: (message) => logs.push({ level: 'info', message }),
      warn: (message) => logs.push({ level: 'warn', message }),
      error: (message, error) => logs.push({ level: 'error', message: error instanceof Error ? `${message}: ${error.message}` : message }),
    },
    now: () => clock,
    uuid: (key) => uuid5(namespace, key),
    state: {
      get: <T>(key: string) => structuredClone(state.get(key)) as T | undefined,
      set: (key: string, value: unknown) => {
        state.set(key, JSON.parse(JSON.stringify(value)) as unknown)
      },
    },
    setHealth: (h) => {
      health = { ...h, stale: h.stale?.map((p) => rel(p)) }
    },
    addTimeseries(path: string, keyOrOptions: string | DriverTimeseriesOptions, unit?: string, more?: Omit<DriverTimeseriesOptions, 'unit' | 'key'>) {
      const o: DriverTimeseriesOptions = typeof keyOrOptions === 'string' ? { ...more, key: keyOrOptions, unit: unit as string } : keyOrOptions
      const r = rel(path)
      if (r === '/') throw new SmapError('SMAP_PATH_EXISTS', `cannot add a timeseries at ${attach}: a driver's own path is a collection`)
      if (streams.has(r) || collections.has(r)) throw new SmapError('SMAP_PATH_EXISTS', `cannot add ${full(r)}: something already exists there`)
      if (typeof o.unit !== 'string' || o.unit.trim() === '') throw new SmapError('SMAP_TIMESERIES_INVALID', `timeseries ${full(r)} needs a unit (Properties/UnitofMeasure), such as "V" or "kW"`)
      ensureParents(r)
      const key = o.key ?? r
      const uuid = uuid5(namespace, key)
      const clash = uuids.get(uuid)
      if (clash) throw new SmapError('SMAP_KEY_DUPLICATE', `timeseries ${full(r)}: key "${key}" is already used by ${full(clash)}; keys must be unique in a driver`)
      uuids.set(uuid, r)
      const ts: RecordedTimeseries = { path: r, fullPath: full(r), uuid, key, unit: o.unit, readingType: o.readingType ?? 'long', metadata: {}, readings: [] }
      if (o.timezone !== undefined) ts.timezone = o.timezone
      if (o.description !== undefined) ts.description = o.description
      if (o.bufferSize !== undefined) ts.bufferSize = o.bufferSize
      streams.set(r, ts)
      return handle(ts)
    },
    addCollection(path) {
      const r = rel(path)
      if (streams.has(r)) throw new SmapError('SMAP_PATH_EXISTS', `cannot add ${full(r)}: a timeseries already exists there`)
      ensureParents(r)
      if (!collections.has(r)) collections.set(r, {})
    },
    setMetadata(path: string, metadata: MetadataInput) {
      const r = rel(path)
      const target = streams.get(r)?.metadata ?? collections.get(r)
      if (!target) throw new SmapError('SMAP_PATH_NOT_FOUND', `no resource at ${full(r)}`)
      mergeMetadata(target, metadata, full(r))
    },
    add(path: string, a: number | ReadingValue, b?: ReadingValue) {
      const ts = requireStream(path)
      if (b === undefined) record(ts, clock, a)
      else record(ts, a as number, b)
    },
    periodic(fn, seconds, opts = {}): DriverJob {
      if (typeof seconds !== 'number' || !(seconds > 0)) throw new SmapError('SMAP_PERIODIC_INVALID', `periodic() needs a period in seconds greater than 0, got ${String(seconds)}`)
      const job: Job = { fn, periodMs: seconds * 1000, next: clock + (opts.delay ?? 0) * 1000, timeoutMs: opts.timeout === undefined ? undefined : opts.timeout * 1000, stopped: false }
      jobs.push(job)
      return {
        stop: async () => {
          job.stopped = true
        },
      }
    },
  }

  const runJob = async (job: Job): Promise<void> => {
    const started = clock
    try {
      await job.fn(controller.signal)
    } catch (err) {
      fail(err)
    }
    // with a controlled clock a run takes no time unless it advances the clock itself
    if (job.timeoutMs !== undefined && clock - started > job.timeoutMs) fail(new SmapError('SMAP_DRIVER_TIMEOUT', `a periodic run of ${def.name} took longer than its timeout`))
  }

  await def.setup(ctx, options)

  const harness: DriverHarness<S> = {
    ctx,
    options,
    errors,
    logs,
    health: () => health,
    state: () => Object.fromEntries(structuredClone([...state])),
    now: () => clock,
    async start() {
      await def.start?.(ctx, options)
      // jobs due now (periodic runs now, like the host)
      await harness.advance(0)
    },
    async advance(seconds) {
      const target = clock + seconds * 1000
      for (;;) {
        const due = jobs.filter((j) => !j.stopped && j.next <= target).sort((a, b) => a.next - b.next)[0]
        if (!due) break
        clock = Math.max(clock, due.next)
        await runJob(due)
        due.next += due.periodMs
        if (due.next <= clock) due.next += Math.ceil((clock - due.next + 1) / due.periodMs) * due.periodMs
      }
      clock = Math.max(clock, target)
    },
    async load(range) {
      if (!def.load) throw new SmapError('SMAP_DRIVER_NO_LOAD', `driver ${def.name} does not import history (it has no load())`)
      await def.load(ctx, range, options)
    },
    async stop() {
      for (const j of jobs) j.stopped = true
      controller.abort()
      await def.stop?.(ctx)
      controller = new AbortController()
    },
    timeseries: () => [...streams.values()],
    get: (path) => streams.get(rel(path)),
    readings: (path) => requireStream(path).readings,
    metadata: (path) => {
      const r = rel(path)
      const m = streams.get(r)?.metadata ?? collections.get(r)
      if (!m) throw new SmapError('SMAP_PATH_NOT_FOUND', `no resource at ${full(r)}`)
      return structuredClone(m)
    },
    collections: () => [...collections.keys()],
  }
  return harness
}
