import type { DriverActuatorOptions, Principal, Reading } from '@smap/sdk'
import type { Clock } from '../clock.js'
import { ActuationError, smapError } from '../errors.js'
import type { ActuatorModel } from '../tree/actuator.js'
import type { Timeseries } from '../tree/timeseries.js'

/** Longest a write or a read may take unless the driver says otherwise. */
export const DEFAULT_WRITE_TIMEOUT_S = 10
/** Least time between two writes a point accepts unless its driver section says otherwise (`MinWriteInterval`). */
export const DEFAULT_MIN_WRITE_INTERVAL_MS = 1000
/** Writes that may wait for one point at once; more are refused (429). */
const MAX_WAITING = 8

/** What a point needs of the driver instance it belongs to. */
export interface PointOwner {
  readonly path: string
  readonly clock: Clock
  /** The current generation's signal: it fires when the driver stops or restarts. */
  readonly signal: AbortSignal
  /** Whether the driver is running, or why not (with when it is tried again, Unix ms). */
  availability(): { ok: true } | { ok: false; why: string; retryAt?: number }
  /** The host's log, prefixed with the driver. */
  warn(message: string): void
  noteReading(): void
}

/** What a write did: the state reached, as a value of the model and as the reading added. */
export interface WriteResult {
  state: number | string
  reading: Reading
}

type DeviceCalls = Pick<DriverActuatorOptions, 'write' | 'read' | 'readInterval' | 'timeout'>

/**
 * One actuator point at run time: the model that checks requested states,
 * the stream of the states reached, and the driver's `write` and `read`.
 * Writes are queued, so the device sees one at a time; each has a deadline;
 * the device is read after each write, after the driver starts and every
 * `readInterval` seconds, so the point shows what the device really does.
 */
export class ActuatorPoint {
  readonly model: ActuatorModel
  readonly ts: Timeseries
  readonly owner: PointOwner
  /** Least ms between two accepted writes. */
  minIntervalMs: number
  #calls: DeviceCalls
  #queue: Promise<unknown> = Promise.resolve()
  #waiting = 0
  #lastAccepted = Number.NEGATIVE_INFINITY
  #readTimer: { cancel(): void } | undefined
  #readFailing = false
  /** When a write was last accepted (Unix ms), if ever. */
  lastWrite: number | undefined

  constructor(owner: PointOwner, ts: Timeseries, model: ActuatorModel, calls: DeviceCalls, minIntervalMs = DEFAULT_MIN_WRITE_INTERVAL_MS) {
    this.owner = owner
    this.ts = ts
    this.model = model
    this.#calls = calls
    this.minIntervalMs = minIntervalMs
  }

  get path(): string {
    return this.ts.path
  }

  /** A restarted setup declared the point again: its newest functions are the ones called. */
  redeclare(calls: DeviceCalls): void {
    this.#calls = calls
  }

  /** The state the point is in, as the latest reading says (undefined before any). */
  get state(): number | string | undefined {
    const latest = this.ts.latest
    return latest === undefined ? undefined : this.model.stateOf(latest[1] as number)
  }

  get #timeoutMs(): number {
    const t = this.#calls.timeout
    return (typeof t === 'number' && t > 0 ? t : DEFAULT_WRITE_TIMEOUT_S) * 1000
  }

  /**
   * Checks `requested` and, if the point may be written now, queues the write
   * and resolves with the state reached. Refusals are ActuationErrors: an
   * invalid state (400), too soon (429), the driver not running (503), the
   * device refusing (502), no answer in time (504).
   */
  write(requested: unknown, principal: Principal): Promise<WriteResult> {
    const value = this.model.parse(requested, this.path)
    const now = this.owner.clock.now()
    const wait = this.#lastAccepted + this.minIntervalMs - now
    if (wait > 0) {
      return Promise.reject(new ActuationError('SMAP_ACTUATE_TOO_SOON', this.path, `${this.path} was written less than ${this.minIntervalMs / 1000} s ago; try again in ${Math.ceil(wait / 1000)} s`, { retryAfterMs: wait }))
    }
    this.#unavailable()
    if (this.#waiting >= MAX_WAITING) {
      return Promise.reject(new ActuationError('SMAP_ACTUATE_BUSY', this.path, `${this.path} has ${MAX_WAITING} writes waiting for the device; try again shortly`, { retryAfterMs: 1000 }))
    }
    this.#lastAccepted = now
    this.lastWrite = now
    this.#waiting++
    const run = this.#queue.then(() => this.#write(value, principal))
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    )
    return run.finally(() => this.#waiting--)
  }

  /** How long until a write would be accepted, ms (0: now). */
  waitMs(): number {
    return Math.max(0, this.#lastAccepted + this.minIntervalMs - this.owner.clock.now())
  }

  #unavailable(): void {
    const a = this.owner.availability()
    if (a.ok) return
    const retry = a.retryAt === undefined ? undefined : Math.max(1000, a.retryAt - this.owner.clock.now())
    throw new ActuationError('SMAP_ACTUATE_UNAVAILABLE', this.path, `${this.path} cannot be written now: its driver ${this.owner.path} ${a.why}`, retry === undefined ? {} : { retryAfterMs: retry })
  }

  async #write(value: number | string, principal: Principal): Promise<WriteResult> {
    // the driver may have stopped while this write waited its turn
    this.#unavailable()
    const returned = await this.#device('write', (signal) => this.#calls.write(value, { signal, principal }))
    let reached = returned === undefined ? this.model.toReading(value) : this.model.reached(returned)
    if (reached === undefined) {
      this.owner.warn(`the write to ${this.path} returned ${JSON.stringify(returned)}, which is not a state of its ${this.model.spec.model} model; taking the requested state as reached`)
      reached = this.model.toReading(value)
    }
    if (this.#calls.read) {
      try {
        const read = await this.#readNow()
        if (read !== undefined) reached = read
      } catch (err) {
        this.owner.warn(`reading ${this.path} after a write failed (${message(err)}); its state is the one written`)
      }
    }
    return { state: this.model.stateOf(reached), reading: this.#record(reached) }
  }

  /** Calls the device within the point's deadline; a driver that stops meanwhile ends the call. */
  async #device<T>(what: 'write' | 'read', call: (signal: AbortSignal) => T): Promise<Awaited<T>> {
    const ms = this.#timeoutMs
    const controller = new AbortController()
    const driverSignal = this.owner.signal
    const stopped = (): void => controller.abort(new ActuationError('SMAP_ACTUATE_INTERRUPTED', this.path, `the driver ${this.owner.path} stopped during the ${what} to ${this.path}; the device's state is read again when it runs`))
    if (driverSignal.aborted) stopped()
    else driverSignal.addEventListener('abort', stopped, { once: true })
    const timer = this.owner.clock.setTimer(() => controller.abort(new ActuationError('SMAP_ACTUATE_TIMEOUT', this.path, `the device did not complete the ${what} to ${this.path} within ${ms / 1000} s`)), ms)
    const aborted = new Promise<never>((_, reject) => {
      const fail = (): void => reject(controller.signal.reason as Error)
      if (controller.signal.aborted) fail()
      else controller.signal.addEventListener('abort', fail, { once: true })
    })
    aborted.catch(() => {})
    try {
      return await Promise.race([Promise.resolve().then(() => call(controller.signal)), aborted])
    } catch (err) {
      if (err instanceof ActuationError) throw err
      if (controller.signal.aborted) throw controller.signal.reason as Error
      // the device (or the driver) said no: its words, for the client
      throw new ActuationError('SMAP_ACTUATE_REFUSED', this.path, `the ${what} to ${this.path} failed: ${message(err)}`, { cause: err })
    } finally {
      timer.cancel()
      driverSignal.removeEventListener('abort', stopped)
    }
  }

  /** Reads the device; resolves with the reading for its state, or undefined if the driver has no `read`. */
  async #readNow(): Promise<number | undefined> {
    const read = this.#calls.read
    if (!read) return undefined
    const got = await this.#device('read', (signal) => read(signal))
    const reached = this.model.reached(got)
    if (reached === undefined) throw smapError('SMAP_ACTUATE_REFUSED', `read returned ${JSON.stringify(got)}, which is not a state of its ${this.model.spec.model} model`)
    return reached
  }

  #record(reading: number): Reading {
    const time = this.owner.clock.now()
    this.ts.addAt(time, reading)
    this.owner.noteReading()
    return [time, reading]
  }

  /** `handle.report`: the device reached a state by itself. */
  report(value: unknown): void {
    const reached = this.model.reached(value)
    if (reached === undefined) throw new ActuationError('SMAP_STATE_INVALID', this.path, `${this.path} cannot be in the state ${JSON.stringify(value)}: it takes ${this.model.describe()}`)
    this.#record(reached)
  }

  /** The driver (re)started: read the device now, then on its schedule, queued with the writes. */
  started(): void {
    this.stopped()
    if (!this.#calls.read) return
    const signal = this.owner.signal
    const tick = (): void => {
      if (signal.aborted) return
      this.#queue = this.#queue.then(() => this.#scheduledRead(signal))
      const every = this.#calls.readInterval
      if (typeof every === 'number' && every > 0) this.#readTimer = this.owner.clock.setTimer(tick, every * 1000)
    }
    tick()
  }

  /** The driver stopped: no more scheduled reads. */
  stopped(): void {
    this.#readTimer?.cancel()
    this.#readTimer = undefined
  }

  async #scheduledRead(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return
    try {
      const reached = await this.#readNow()
      if (reached !== undefined && !signal.aborted) this.#record(reached)
      if (this.#readFailing) this.owner.warn(`reading ${this.path} works again`)
      this.#readFailing = false
    } catch (err) {
      if (signal.aborted) return
      // said once per run of failures, not at every interval
      if (!this.#readFailing) this.owner.warn(`reading ${this.path} failed: ${message(err)}; it is tried again${this.#calls.readInterval ? ` every ${this.#calls.readInterval} s` : ' after the next write'}`)
      this.#readFailing = true
    }
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
