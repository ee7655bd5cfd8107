import type { DriverActuatorOptions, DriverContext, DriverDefinition, DriverHealth, DriverJob, DriverLogger, DriverPeriodicOptions, DriverStateStore, LoadRange } from '@smap/sdk'
import type { Clock } from '../clock.js'
import { DriverError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { ActuatorModel } from '../tree/actuator.js'
import { uuid5 } from '../tree/identity.js'
import { flattenMetadata } from '../tree/metadata.js'
import type { Timeseries } from '../tree/timeseries.js'
import type { Tree } from '../tree/tree.js'
import { ActuatorPoint } from './actuator-point.js'
import { createContext, type ContextOwner } from './context.js'
import { periodic, type PeriodicJob } from './periodic.js'
import { StateKeeper, type StateBackend } from './state-store.js'
import type { DriverSource, DriverState, DriverStatus } from './driver-types.js'
import { backoffDelay, formatDelay, SUPERVISION_DEFAULTS, type SupervisionOptions } from './supervision.js'
import { withTimeout } from './timeout.js'

export type { DriverSource, DriverState, DriverStatus, SupervisionOptions }

/** What a driver instance runs against; the host gives it, the test harness gives its own. */
export interface DriverEnv {
  readonly tree: Tree
  readonly clock: Clock
  /** The host's log: its own lines about the driver, prefixed with the driver's path. */
  readonly logger: Logger
  /** Where the driver's own `ctx.logger` lines go (default: the host's log, prefixed). */
  readonly driverLogger?: DriverLogger
  /** Where a driver instance keeps `ctx.state`, by its namespace. */
  stateBackend(namespace: string): StateBackend
  /** Writes readings added so far to the outboxes (before state is saved). */
  flush(): Promise<void>
  /** Told of every failure the host restarts a driver for. */
  onFailure?(path: string, phase: string, error: unknown): void
  /** Told when a driver's state, health or `disabled` changes (not of each reading). */
  onChange?(driver: DriverInstance): void
}

/** One driver attached at a path: its context, lifecycle and supervision. */
export class DriverInstance implements ContextOwner {
  readonly path: string
  readonly definition: DriverDefinition
  readonly options: unknown
  readonly namespace: string
  readonly source: DriverSource
  #state_: DriverState = 'loaded'
  #disabled = false
  restarts = 0
  lastError: DriverStatus['lastError'] = null
  lastReadingTime: number | undefined
  /** When a poll of it last began, wall-clock ms (for the watchdog). */
  lastPollStart = 0
  health: DriverStatus['health'] = null
  readonly ctx: DriverContext
  readonly tree: Tree
  readonly clock: Clock
  readonly logger: DriverLogger
  readonly #env: DriverEnv
  readonly #host: DriverLogger
  readonly #sup: typeof SUPERVISION_DEFAULTS
  readonly #state: StateKeeper
  #setupDone = false
  #jobs: PeriodicJob[] = []
  #controller = new AbortController()
  #failures: number[] = []
  #restartTimer: { cancel(): void } | undefined
  #nextAttempt: number | undefined
  #generation = 0
  #busy: Promise<void> = Promise.resolve()
  readonly #runs = new Set<Promise<unknown>>()
  readonly #points = new Map<string, ActuatorPoint>()

  constructor(env: DriverEnv, path: string, definition: DriverDefinition, options: unknown, source: DriverSource, supervision: SupervisionOptions = {}) {
    this.#env = env
    this.tree = env.tree
    this.clock = env.clock
    this.path = path
    this.definition = definition
    this.options = options
    this.source = source
    this.#sup = { ...SUPERVISION_DEFAULTS, ...supervision }
    this.namespace = source.uuid ?? uuid5(env.tree.root, source.key ?? path)
    const prefix = `driver ${path} (${this.label})`
    this.#host = {
      info: (m) => env.logger.info(`${prefix}: ${m}`),
      warn: (m) => env.logger.warn(`${prefix}: ${m}`),
      error: (m, e) => env.logger.error(`${prefix}: ${m}`, e),
    }
    this.logger = env.driverLogger ?? this.#host
    this.#state = new StateKeeper(env.stateBackend(this.namespace), env.clock, this.#host, () => env.flush())
    this.ctx = createContext(this)
  }

  /** Where it is in its life; every change is told to the host (`DriverEnv.onChange`). */
  get state(): DriverState {
    return this.#state_
  }

  set state(next: DriverState) {
    if (next === this.#state_) return
    this.#state_ = next
    this.#env.onChange?.(this)
  }

  /** Whether an operator turned it off; the host keeps it so across restarts. */
  get disabled(): boolean {
    return this.#disabled
  }

  /** The driver as the config names it. */
  get label(): string {
    return this.source.ref ?? this.definition.name
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** `ctx.state` as the driver sees it. */
  get stateStore(): DriverStateStore {
    return this.#state.store
  }

  /** A copy of `ctx.state` as it is now, saved or not. */
  stateSnapshot(): Record<string, unknown> {
    return this.#state.snapshot()
  }

  noteReading(): void {
    this.lastReadingTime = this.clock.now()
  }

  /** Its actuator points, by full path. */
  get points(): ReadonlyMap<string, ActuatorPoint> {
    return this.#points
  }

  declareActuator(ts: Timeseries, model: ActuatorModel, options: DriverActuatorOptions): ActuatorPoint {
    const existing = this.#points.get(ts.path)
    if (existing && existing.ts === ts) {
      existing.redeclare(options)
      return existing
    }
    const signal = (): AbortSignal => this.signal
    const point = new ActuatorPoint(
      {
        path: this.path,
        clock: this.clock,
        get signal() {
          return signal()
        },
        availability: () => this.#availability(),
        warn: (m) => this.#host.warn(m),
        noteReading: () => this.noteReading(),
      },
      ts,
      model,
      options,
      this.source.minWriteIntervalMs,
    )
    this.#points.set(ts.path, point)
    // declared by a start that already runs (or a restarted setup): its reads begin now
    if (this.state === 'running') point.started()
    return point
  }

  #availability(): { ok: true } | { ok: false; why: string; retryAt?: number } {
    if (this.state === 'running') return { ok: true }
    const last = this.lastError ? ` after failing in ${this.lastError.phase}: ${this.lastError.message}` : ''
    if (this.state === 'backoff') return { ok: false, why: `is restarting${last}`, retryAt: this.#nextAttempt }
    if (this.state === 'failed') return { ok: false, why: `has failed repeatedly${last} and rests`, retryAt: this.#nextAttempt }
    if (this.state === 'stopping' || this.state === 'stopped') return { ok: false, why: 'is stopped' }
    if (this.state === 'disabled') return { ok: false, why: `is disabled; enable it with PUT /drivers${this.path === '/' ? '/+' : this.path}?enabled=true` }
    return { ok: false, why: `is ${this.state === 'loaded' ? 'not started yet' : `${this.state}`}`, retryAt: this.clock.now() + 1000 }
  }

  setHealth(h: DriverHealth): void {
    const since = this.health && this.health.healthy === h.healthy ? this.health.since : this.clock.now()
    const changed = this.health === null ? !h.healthy : this.health.healthy !== h.healthy
    if (changed) this.#host[h.healthy ? 'info' : 'warn'](h.message ?? (h.healthy ? 'healthy again' : 'unhealthy'))
    const before = this.health
    this.health = { healthy: h.healthy, since, ...(h.message === undefined ? {} : { message: h.message }), ...(h.stale === undefined ? {} : { stale: h.stale }) }
    if (before?.healthy !== h.healthy || before.message !== h.message || String(before.stale) !== String(h.stale)) this.#env.onChange?.(this)
  }

  status(): DriverStatus {
    return {
      driver: this.label,
      state: this.state,
      restarts: this.restarts,
      lastError: this.lastError,
      lastReadingTime: this.lastReadingTime ?? null,
      health: this.health,
      nextAttempt: this.#nextAttempt ?? null,
      disabled: this.#disabled,
    }
  }

  /** Whether a poll of it is running. */
  get polling(): boolean {
    return this.#runs.size > 0
  }

  /** Resolves when no poll is running and the host's work after a failure (stopping, scheduling the restart) is done. */
  async settled(): Promise<void> {
    for (let busy = this.#busy; ; busy = this.#busy) {
      await Promise.allSettled([busy, ...this.#runs])
      if (busy === this.#busy && this.#runs.size === 0) return
    }
  }

  /** Runs `setup`; a failure is logged and retried with backoff. Resolves true on success. */
  async setup(): Promise<boolean> {
    if (this.#setupDone) return !this.#disabled
    this.state = 'setting-up'
    const generation = this.#generation
    try {
      await this.#runSetup(generation)
      return this.#setupDone && !this.#disabled
    } catch (err) {
      this.#fail('setup', err, generation)
      return false
    } finally {
      // a disabled driver still builds its part of the tree (its streams show, stale), and is not started
      if (this.#disabled) this.state = 'disabled'
    }
  }

  /** Runs `setup` once, unsupervised (for an import or a test): throws what it throws. */
  async setupOnce(): Promise<void> {
    if (this.#setupDone) return
    this.state = 'setting-up'
    try {
      await this.#runSetup(this.#generation)
    } catch (err) {
      this.state = 'failed'
      this.lastError = { message: err instanceof Error ? err.message : String(err), phase: 'setup', time: this.clock.now() }
      throw err
    }
  }

  async #runSetup(generation: number): Promise<void> {
    await this.#timed(() => this.definition.setup(this.ctx, this.options), this.#sup.startTimeoutMs, 'setup')
    if (generation !== this.#generation) return
    this.applySectionMetadata()
    this.#setupDone = true
    this.state = 'ready'
  }

  /** Runs `start`; a failure is logged and retried with backoff. */
  async start(): Promise<void> {
    if (!this.#setupDone || this.#disabled) return
    this.state = 'starting'
    const generation = this.#generation
    try {
      await this.#timed(() => this.definition.start?.(this.ctx, this.options), this.#sup.startTimeoutMs, 'start')
      if (generation === this.#generation && this.state === 'starting') {
        this.state = 'running'
        for (const p of this.#points.values()) p.started()
      }
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
    if (!this.definition.load) throw new DriverError('SMAP_DRIVER_NO_LOAD', this.path, `driver ${this.path} (${this.label}) cannot import history: it has no load()`)
    if (!this.#setupDone) throw new DriverError('SMAP_DRIVER_NOT_READY', this.path, `driver ${this.path} (${this.label}) is not set up: ${this.lastError?.message ?? 'setup has not run'}`)
    await this.definition.load(this.ctx, range, this.options)
  }

  /** Stops jobs, fires the abort signal and runs the driver's `stop`, within the deadline. */
  async stop(): Promise<void> {
    this.#restartTimer?.cancel()
    this.#restartTimer = undefined
    this.#nextAttempt = undefined
    if (this.state === 'stopped' || this.state === 'disabled') return
    const wasActive = this.state !== 'failed' && this.state !== 'loaded'
    this.state = 'stopping'
    await this.#halt(wasActive)
    await this.#state.close()
    this.state = this.#disabled ? 'disabled' : 'stopped'
  }

  /**
   * Restarts it now, as after a failure but at once and with the backoff
   * reset: the running generation is stopped (its `stop` runs), then it is
   * set up (only if that had not succeeded) and started. Resolves once it
   * has stopped; `started` resolves when the start is done.
   */
  async restart(): Promise<{ started: Promise<void> }> {
    if (this.#disabled) throw new DriverError('SMAP_DRIVER_DISABLED', this.path, `driver ${this.path} (${this.label}) is disabled; enable it first with PUT /drivers${this.path === '/' ? '/+' : this.path}?enabled=true`)
    await this.#busy
    this.#restartTimer?.cancel()
    this.#restartTimer = undefined
    this.#nextAttempt = undefined
    this.#failures = []
    const wasActive = this.state !== 'failed' && this.state !== 'loaded' && this.state !== 'stopped'
    this.state = 'stopping'
    await this.#halt(wasActive && this.#setupDone)
    this.restarts++
    this.#host.info('restarted on request')
    return { started: this.setup().then((ok) => (ok ? this.start() : undefined)) }
  }

  /** Turns it off (stopping it) or on again; `enable` does not start it: the host does. */
  async setDisabled(disabled: boolean): Promise<void> {
    if (disabled === this.#disabled) return
    this.#disabled = disabled
    if (disabled) {
      // never started (or only set up): nothing to stop
      if (this.state === 'stopped' || this.state === 'loaded' || this.state === 'ready') this.state = 'disabled'
      else {
        this.#restartTimer?.cancel()
        this.#restartTimer = undefined
        this.#nextAttempt = undefined
        this.state = 'stopping'
        await this.#busy
        await this.#halt(this.#setupDone)
        await this.#state.close()
        this.state = 'disabled'
      }
    } else {
      this.#failures = []
      this.state = this.#setupDone ? 'ready' : 'loaded'
    }
    this.#env.onChange?.(this)
  }

  /** `ctx.periodic`: a job of the current generation, whose failures restart the driver. */
  periodic(fn: (signal: AbortSignal) => unknown, seconds: number, options: DriverPeriodicOptions): DriverJob {
    const generation = this.#generation
    const signal = this.#controller.signal
    // a poll that hangs must show as a failure, not as "running" forever
    const timeoutMs = options.timeout !== undefined ? options.timeout * 1000 : (this.#sup.pollTimeoutMs ?? Math.min(3_600_000, Math.max(60_000, 5 * seconds * 1000)))
    const run = (): Promise<unknown> => {
      const p = this.#timed(() => {
        this.lastPollStart = Date.now()
        return fn(signal)
      }, timeoutMs, 'a periodic run')
      this.#runs.add(p)
      const forget = (): void => void this.#runs.delete(p)
      p.then(forget, forget)
      return p
    }
    const job = periodic(run, seconds, {
      delay: options.delay,
      name: this.path,
      clock: this.clock,
      onError: (err) => this.#fail('poll', err, generation),
    })
    if (generation !== this.#generation) void job.stop()
    else this.#jobs.push(job)
    return job
  }

  #timed<T>(work: () => T | Promise<T>, ms: number | undefined, what: string): Promise<T> {
    return withTimeout(work, ms, what, this.path, this.clock)
  }

  /** Ends the current generation: jobs, signal, the driver's own stop. */
  async #halt(callStop: boolean): Promise<void> {
    this.#generation++
    for (const p of this.#points.values()) p.stopped()
    const jobs = this.#jobs
    this.#jobs = []
    this.#controller.abort(new DriverError('SMAP_DRIVER_STOPPED', this.path, `driver ${this.path} stopped; its work in progress was aborted`))
    this.#controller = new AbortController()
    const deadline = this.#sup.stopTimeoutMs
    try {
      await this.#timed(() => Promise.all(jobs.map((j) => j.stop())), deadline, 'finishing the running poll')
      if (callStop && this.definition.stop) await this.#timed(() => this.definition.stop?.(this.ctx), deadline, 'stop')
    } catch (err) {
      this.#host.error('did not stop cleanly', err)
    }
  }

  /** @internal A failure outside any call of the host's (a driver's worker thread that died): restarted like any other. */
  fault(phase: string, err: unknown): void {
    this.#fail(phase, err, this.#generation)
  }

  #fail(phase: string, err: unknown, generation: number): void {
    if (generation !== this.#generation || this.#disabled || this.state === 'stopping' || this.state === 'stopped' || this.state === 'failed') return
    this.#env.onFailure?.(this.path, phase, err)
    const now = this.clock.now()
    const message = err instanceof Error ? err.message : String(err)
    this.lastError = { message, phase, time: now }
    this.#failures = [...this.#failures.filter((t) => now - t < this.#sup.crashWindowMs), now]
    // a crash loop rests for a long while, then is tried again: a device that was away for a
    // minute must not leave its driver stopped until someone restarts smap
    const giveUp = this.#failures.length >= this.#sup.crashLimit
    const delay = giveUp ? this.#sup.failedRetryMs : backoffDelay(this.#sup, this.#failures.length)
    this.#host.error(
      giveUp
        ? `failed in ${phase} ${this.#failures.length} times within ${this.#sup.crashWindowMs / 1000} s; it rests and is tried again in ${formatDelay(delay)}`
        : `failed in ${phase}; restarting it in ${(delay / 1000).toFixed(1)} s`,
      err,
    )
    const state: DriverState = giveUp ? 'failed' : 'backoff'
    this.state = state
    this.#nextAttempt = now + delay
    this.#busy = this.#halt(this.#setupDone).then(() => {
      if (this.state !== state) return
      this.#restartTimer = this.clock.setTimer(() => {
        this.#restartTimer = undefined
        if (this.state !== state) return undefined
        this.#nextAttempt = undefined
        if (giveUp) this.#failures = []
        this.restarts++
        return this.setup().then((ok) => (ok ? this.start() : undefined))
      }, delay)
    })
  }

  /** @internal The section's `Metadata/*` over what the driver set (after setup, and after a worker ran it again). */
  applySectionMetadata(): void {
    const entries = flattenMetadata(this.source.metadata)
    if (entries.length === 0) return
    this.tree.setMetadata(this.path, this.source.metadata)
    // the section wins over the same names the driver set further down
    for (const r of this.tree.resources(this.path)) {
      if (r.path === this.path || r._owner !== this) continue
      const own = new Map(flattenMetadata(r._metadata))
      const overrides = entries.filter(([k]) => own.has(k))
      if (overrides.length > 0) this.tree.setMetadata(r.path, Object.fromEntries(overrides))
    }
  }
}
