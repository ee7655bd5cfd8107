import {
  flattenMetadata,
  normalizePath,
  SmapError,
  uuid5,
  type DriverContext,
  type DriverDefinition,
  type DriverJob,
  type DriverLogger,
  type DriverTimeseriesOptions,
  type LoadRange,
  type Metadata,
  type ReadingValue,
  type TimeseriesHandle,
} from '@smap/sdk'
import { readFileSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import type { SmapInstance } from './instance.js'
import { periodic, type PeriodicJob } from './periodic.js'
import type { Timeseries } from './timeseries.js'

/** Where a driver is in its life. */
export type DriverState = 'loaded' | 'setting-up' | 'ready' | 'starting' | 'running' | 'backoff' | 'failed' | 'stopping' | 'stopped'

/** How the host restarts failing drivers. */
export interface SupervisionOptions {
  /** First restart delay (doubles each time, with jitter). Default 1 s. */
  backoffMs?: number
  /** Longest restart delay. Default 60 s. */
  maxBackoffMs?: number
  /** After this many failures within `crashWindowMs` the driver stays stopped. Default 5. */
  crashLimit?: number
  /** Default 10 minutes. */
  crashWindowMs?: number
  /** Longest a setup or start may take. Default 30 s. */
  startTimeoutMs?: number
  /** Longest a stop may take on shutdown. Default 5 s. */
  stopTimeoutMs?: number
}

/** What a config section (or code) says about a driver instance, kept for `dump`. */
export interface DriverSource {
  /** The `type` as written, e.g. `smap-driver-x#Meter`. */
  ref?: string
  key?: string
  uuid?: string
  /** The option values as written. */
  rawOptions: Record<string, string>
  /** `Metadata/*` of the section: overrides what the driver sets. */
  metadata: Metadata
  description?: string
}

/** A driver's line in `/status`. */
export interface DriverStatus {
  driver: string
  state: DriverState
  restarts: number
  lastError: { message: string; phase: string; time: number } | null
  /** When a stream of the driver last got a reading (Unix ms). */
  lastReadingTime: number | null
  /** What the driver says about its device or feed (`ctx.setHealth`); stale paths are full paths. */
  health: { healthy: boolean; message?: string; stale?: string[]; since: number } | null
}

const DEFAULTS: Required<SupervisionOptions> = {
  backoffMs: 1000,
  maxBackoffMs: 60_000,
  crashLimit: 5,
  crashWindowMs: 10 * 60_000,
  startTimeoutMs: 30_000,
  stopTimeoutMs: 5_000,
}

/** Marks a resource as made by a driver; streams record when they last got a reading. */
export interface ResourceOwner {
  readonly path: string
  lastReadingTime: number | undefined
}

class TimeoutError extends SmapError {
  constructor(what: string, ms: number) {
    super('SMAP_DRIVER_TIMEOUT', `${what} did not finish within ${ms / 1000} s`)
  }
}

function withTimeout<T>(work: () => T | Promise<T>, ms: number | undefined, what: string): Promise<T> {
  const p = Promise.resolve().then(work)
  if (ms === undefined) return p
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms)
    }),
  ])
}

/** One driver attached at a path: its context, lifecycle and supervision. */
export class DriverInstance implements ResourceOwner {
  readonly path: string
  readonly definition: DriverDefinition
  readonly options: unknown
  readonly namespace: string
  readonly source: DriverSource
  state: DriverState = 'loaded'
  restarts = 0
  lastError: DriverStatus['lastError'] = null
  lastReadingTime: number | undefined
  health: DriverStatus['health'] = null
  readonly ctx: DriverContext
  readonly #inst: SmapInstance
  readonly #sup: Required<SupervisionOptions>
  readonly #logger: DriverLogger
  #setupDone = false
  #jobs: PeriodicJob[] = []
  #controller = new AbortController()
  #failures: number[] = []
  #restartTimer: NodeJS.Timeout | undefined
  #generation = 0
  #state: Map<string, unknown> | undefined
  #stateTimer: NodeJS.Timeout | undefined
  #stateSaving: Promise<void> = Promise.resolve()

  constructor(inst: SmapInstance, path: string, definition: DriverDefinition, options: unknown, source: DriverSource, supervision: SupervisionOptions = {}) {
    this.#inst = inst
    this.path = path
    this.definition = definition
    this.options = options
    this.source = source
    this.#sup = { ...DEFAULTS, ...supervision }
    this.namespace = source.uuid ?? uuid5(inst.root, source.key ?? path)
    const prefix = `driver ${path} (${this.label})`
    this.#logger = {
      info: (m) => inst.logger.info(`${prefix}: ${m}`),
      warn: (m) => inst.logger.warn(`${prefix}: ${m}`),
      error: (m, e) => inst.logger.error(`${prefix}: ${m}`, e),
    }
    this.ctx = this.#createContext()
  }

  /** The driver as the config names it. */
  get label(): string {
    return this.source.ref ?? this.definition.name
  }

  status(): DriverStatus {
    return {
      driver: this.label,
      state: this.state,
      restarts: this.restarts,
      lastError: this.lastError,
      lastReadingTime: this.lastReadingTime ?? null,
      health: this.health,
    }
  }

  /** Runs `setup`; a failure is logged and retried with backoff. Resolves true on success. */
  async setup(): Promise<boolean> {
    if (this.#setupDone) return true
    this.state = 'setting-up'
    const generation = this.#generation
    try {
      await this.#runSetup(generation)
      return this.#setupDone
    } catch (err) {
      this.#fail('setup', err, generation)
      return false
    }
  }

  /** Runs `setup` once, unsupervised (for an import): throws what it throws. */
  async setupOnce(): Promise<void> {
    if (this.#setupDone) return
    this.state = 'setting-up'
    try {
      await this.#runSetup(this.#generation)
    } catch (err) {
      this.state = 'failed'
      this.lastError = { message: err instanceof Error ? err.message : String(err), phase: 'setup', time: Date.now() }
      throw err
    }
  }

  async #runSetup(generation: number): Promise<void> {
    await withTimeout(() => this.definition.setup(this.ctx, this.options), this.#sup.startTimeoutMs, 'setup')
    if (generation !== this.#generation) return
    this.#applySectionMetadata()
    this.#setupDone = true
    this.state = 'ready'
  }

  /** Runs `start`; a failure is logged and retried with backoff. */
  async start(): Promise<void> {
    if (!this.#setupDone) return
    this.state = 'starting'
    const generation = this.#generation
    try {
      await withTimeout(() => this.definition.start?.(this.ctx, this.options), this.#sup.startTimeoutMs, 'start')
      if (generation === this.#generation && this.state === 'starting') this.state = 'running'
    } catch (err) {
      this.#fail('start', err, generation)
    }
  }

  /** Whether the driver can import history. */
  get canLoad(): boolean {
    return typeof this.definition.load === 'function'
  }

  /** Runs the driver's `load` for one range (setup must have succeeded); throws what it throws. */
  async load(range: LoadRange): Promise<void> {
    if (!this.definition.load) throw new SmapError('SMAP_DRIVER_NO_LOAD', `driver ${this.path} (${this.label}) cannot import history: it has no load()`)
    if (!this.#setupDone) throw new SmapError('SMAP_DRIVER_NOT_READY', `driver ${this.path} (${this.label}) is not set up: ${this.lastError?.message ?? 'setup has not run'}`)
    await this.definition.load(this.ctx, range, this.options)
  }

  /** Stops jobs, fires the abort signal and runs the driver's `stop`, within the deadline. */
  async stop(): Promise<void> {
    if (this.#restartTimer) clearTimeout(this.#restartTimer)
    this.#restartTimer = undefined
    if (this.state === 'stopped') return
    const wasActive = this.state !== 'failed' && this.state !== 'loaded'
    this.state = 'stopping'
    await this.#halt(wasActive)
    if (this.#stateTimer) {
      clearTimeout(this.#stateTimer)
      this.#stateTimer = undefined
      await this.saveState()
    }
    await this.#stateSaving
    this.state = 'stopped'
  }

  get #stateFile(): string {
    return join(this.#inst.dataDir, 'drivers', `${this.namespace}.json`)
  }

  #loadState(): Map<string, unknown> {
    if (!this.#state) {
      let saved: Record<string, unknown> = {}
      try {
        saved = JSON.parse(readFileSync(this.#stateFile, 'utf8')) as Record<string, unknown>
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.#logger.warn(`cannot read its saved state ${this.#stateFile} (${(err as Error).message}); starting without it`)
      }
      this.#state = new Map(Object.entries(saved))
    }
    return this.#state
  }

  /** Writes `ctx.state` (after flushing readings to the outboxes, so none can be skipped after a crash). */
  saveState(): Promise<void> {
    this.#stateSaving = this.#stateSaving.then(async () => {
      if (!this.#state) return
      const file = this.#stateFile
      try {
        await this.#inst.flush()
        await mkdir(dirname(file), { recursive: true })
        await writeFile(`${file}.tmp`, JSON.stringify(Object.fromEntries(this.#state)))
        await rename(`${file}.tmp`, file)
      } catch (err) {
        this.#logger.error(`cannot save its state to ${file}; it is kept in memory and saved again on the next change`, err)
      }
    })
    return this.#stateSaving
  }

  /** Ends the current generation: jobs, signal, the driver's own stop. */
  async #halt(callStop: boolean): Promise<void> {
    this.#generation++
    const jobs = this.#jobs
    this.#jobs = []
    this.#controller.abort(new SmapError('SMAP_DRIVER_STOPPED', `driver ${this.path} stopped`))
    this.#controller = new AbortController()
    const deadline = this.#sup.stopTimeoutMs
    try {
      await withTimeout(() => Promise.all(jobs.map((j) => j.stop())), deadline, 'finishing the running poll')
      if (callStop && this.definition.stop) await withTimeout(() => this.definition.stop?.(this.ctx), deadline, 'stop')
    } catch (err) {
      this.#logger.error('did not stop cleanly', err)
    }
  }

  #fail(phase: string, err: unknown, generation: number): void {
    if (generation !== this.#generation || this.state === 'stopping' || this.state === 'stopped' || this.state === 'failed') return
    const now = Date.now()
    const message = err instanceof Error ? err.message : String(err)
    this.lastError = { message, phase, time: now }
    this.#failures = [...this.#failures.filter((t) => now - t < this.#sup.crashWindowMs), now]
    const giveUp = this.#failures.length >= this.#sup.crashLimit
    const delay = giveUp ? 0 : this.#backoff(this.#failures.length)
    this.#logger.error(
      giveUp
        ? `failed in ${phase} ${this.#failures.length} times within ${this.#sup.crashWindowMs / 1000} s; it stays stopped until smap is restarted`
        : `failed in ${phase}; restarting it in ${(delay / 1000).toFixed(1)} s`,
      err,
    )
    this.state = giveUp ? 'failed' : 'backoff'
    void this.#halt(this.#setupDone).then(() => {
      if (giveUp || this.state !== 'backoff') return
      this.#restartTimer = setTimeout(() => {
        this.#restartTimer = undefined
        if (this.state !== 'backoff') return
        this.restarts++
        void this.setup().then((ok) => (ok ? this.start() : undefined))
      }, delay)
    })
  }

  #backoff(failures: number): number {
    const cap = Math.min(this.#sup.maxBackoffMs, this.#sup.backoffMs * 2 ** (failures - 1))
    // "equal jitter": at least half the delay, so a crash loop still slows down
    return cap / 2 + Math.random() * (cap / 2)
  }

  #applySectionMetadata(): void {
    const entries = flattenMetadata(this.source.metadata)
    if (entries.length === 0) return
    this.#inst.setMetadata(this.path, this.source.metadata)
    // the section wins over the same names the driver set further down
    for (const r of this.#inst.resources(this.path)) {
      if (r.path === this.path || r._owner !== this) continue
      const own = new Map(flattenMetadata(r._metadata))
      const overrides = entries.filter(([k]) => own.has(k))
      if (overrides.length > 0) this.#inst.setMetadata(r.path, Object.fromEntries(overrides))
    }
  }

  // Every ctx.add passes here: normalizing a path costs ten times the add
  // itself, so each path a driver uses is worked out once.
  readonly #paths = new Map<string, string>()

  #full(path: string): string {
    let full = this.#paths.get(path)
    if (full === undefined) {
      const rel = normalizePath(path)
      full = this.path === '/' ? rel : rel === '/' ? this.path : `${this.path}${rel}`
      if (this.#paths.size < 100_000) this.#paths.set(path, full)
    }
    return full
  }

  #createContext(): DriverContext {
    const inst = this.#inst
    const handle = (ts: Timeseries): TimeseriesHandle => ({
      path: ts.path,
      uuid: ts.uuid,
      add: (a: number | ReadingValue, b?: ReadingValue) => (b === undefined ? ts.addAt(Date.now(), a) : ts.addAt(a as number, b)),
    })
    const currentSignal = (): AbortSignal => this.#controller.signal
    return {
      path: this.path,
      namespace: this.namespace,
      get signal() {
        return currentSignal()
      },
      logger: this.#logger,
      now: () => Date.now(),
      uuid: (key) => uuid5(this.namespace, key),
      state: {
        get: <T>(key: string) => structuredClone(this.#loadState().get(key)) as T | undefined,
        set: (key: string, value: unknown) => {
          this.#loadState().set(key, JSON.parse(JSON.stringify(value)) as unknown)
          this.#stateTimer ??= setTimeout(() => {
            this.#stateTimer = undefined
            void this.saveState()
          }, 1000)
        },
      },
      setHealth: (h) => {
        const since = this.health && this.health.healthy === h.healthy ? this.health.since : Date.now()
        const changed = this.health === null ? !h.healthy : this.health.healthy !== h.healthy
        if (changed) this.#logger[h.healthy ? 'info' : 'warn'](h.message ?? (h.healthy ? 'healthy again' : 'unhealthy'))
        this.health = { healthy: h.healthy, since, ...(h.message === undefined ? {} : { message: h.message }), ...(h.stale === undefined ? {} : { stale: h.stale.map((p) => this.#full(p)) }) }
      },
      addTimeseries: (path: string, keyOrOptions: string | DriverTimeseriesOptions, unit?: string, more?: Omit<DriverTimeseriesOptions, 'unit' | 'key'>) => {
        const o: DriverTimeseriesOptions = typeof keyOrOptions === 'string' ? { ...more, key: keyOrOptions, unit: unit as string } : keyOrOptions
        const full = this.#full(path)
        const key = o.key ?? normalizePath(path)
        const existing = inst.getTimeseries(full)
        // a restarted setup finds its own streams again
        if (existing && existing._owner === this && existing.uuid === uuid5(this.namespace, key)) return handle(existing)
        const ts = inst.addTimeseries(full, { ...o, key, namespace: this.namespace })
        ts._owner = this
        return handle(ts)
      },
      addCollection: (path, options) => {
        const full = this.#full(path)
        const existing = inst.getCollection(full)
        if (existing && (existing._owner === this || full === this.path)) return
        inst.addCollection(full, options)._owner = this
      },
      setMetadata: (path, metadata) => inst.setMetadata(this.#full(path), metadata),
      add: (path: string, a: number | ReadingValue, b?: ReadingValue) => {
        const full = this.#full(path)
        if (b === undefined) inst.add(full, a)
        else inst.add(full, a as number, b)
      },
      periodic: (fn, seconds, options = {}): DriverJob => {
        const generation = this.#generation
        const signal = this.#controller.signal
        const timeoutMs = options.timeout === undefined ? undefined : options.timeout * 1000
        const job = periodic(() => withTimeout(() => fn(signal), timeoutMs, 'a periodic run'), seconds, {
          delay: options.delay,
          name: this.path,
          onError: (err) => this.#fail('poll', err, generation),
        })
        if (generation !== this.#generation) void job.stop()
        else this.#jobs.push(job)
        return job
      },
    }
  }
}
