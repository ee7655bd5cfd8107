import type { z } from 'zod'
import type { MetadataInput, ReadingType, ReadingValue } from './schemas.js'

/** Options of `ctx.addTimeseries`. */
export interface DriverTimeseriesOptions {
  unit: string
  /** Names the stream durably within the driver instance; default its path relative to the driver. */
  key?: string
  readingType?: ReadingType
  timezone?: string
  description?: string
  bufferSize?: number
}

/** A stream a driver created. */
export interface TimeseriesHandle {
  /** Path in the whole tree, e.g. `/instrument0/sensor0`. */
  readonly path: string
  readonly uuid: string
  /** Adds a reading stamped now, or at `time` (Unix ms). */
  add(value: ReadingValue): void
  add(time: number, value: ReadingValue): void
}

/** Who asked for a change: passed to an actuator's `write`, and kept in the audit log. */
export interface Principal {
  /** How they were let in: from this machine, with a bearer token, a TLS client certificate, from a client network allowed to manage reports, by a scheduled job, or from a test. */
  via: 'loopback' | 'token' | 'certificate' | 'network' | 'job' | 'harness'
  /** The address, the token's name, the certificate's subject, or the job's name and uuid. */
  name: string
  /** The client's address, when the request came over the network. */
  address?: string
}

/** What `write` is given besides the value. */
export interface ActuatorWriteOptions {
  /** Fires when the write times out or the driver stops: pass it on to the device's I/O. */
  signal: AbortSignal
  principal: Principal
}

/** The four actuator models of the sMAP profile. */
export type ActuatorModelName = 'binary' | 'discrete' | 'continuous' | 'continuousInteger'

/**
 * Options of `ctx.addActuator`. The value `write` gets and `read` returns is
 * 0 or 1 for `binary`, one of `values` for `discrete`, a number for the others.
 */
export interface DriverActuatorOptions {
  unit: string
  model: ActuatorModelName
  /** Names the point durably within the driver instance; default its path relative to the driver. */
  key?: string
  /** `discrete`: the states it takes, e.g. `["heat", "cool", "off"]`. */
  values?: string[]
  /** `continuous` and `continuousInteger`: the range. */
  min?: number
  max?: number
  /** `continuous`: the step between states, counted from `min`. */
  step?: number
  description?: string
  /**
   * Performs the change on the device. May return the state the device
   * reached (else the requested state is taken as reached). Throw to refuse:
   * the message reaches the client (HTTP 502).
   */
  write(value: number | string, options: ActuatorWriteOptions): unknown
  /** Reads the device's current state; called after start, after every write, and every `readInterval` seconds. */
  read?(signal: AbortSignal): unknown
  /** Seconds between reads of the device (default: only after start and after each write). */
  readInterval?: number
  /** Longest a write (or a read) may take, in seconds (default 10); the client gets 504 after it. */
  timeout?: number
}

/** An actuator point a driver created: a stream of the states it reached. */
export interface ActuatorHandle {
  readonly path: string
  readonly uuid: string
  /** Tells the host the device reached `value` by itself (a thermostat changed at its panel, say). */
  report(value: number | string): void
}

/** Options of `ctx.periodic`. */
export interface DriverPeriodicOptions {
  /** A run that takes longer than this many seconds counts as a failure of the driver (default: five periods, at least 60 s, at most an hour). */
  timeout?: number
  /** Wait this many seconds before the first run instead of running now. */
  delay?: number
}

/** A driver's scheduled job. */
export interface DriverJob {
  stop(): Promise<void>
}

/** What a driver says about the equipment or feed behind it; shown in `/status`. */
export interface DriverHealth {
  /** false when the device or feed is not answering as it should. */
  healthy: boolean
  /** One line for the operator, e.g. "meter at 10.0.0.7:4660 not answering for 3 polls". */
  message?: string
  /** Driver-relative paths of streams whose latest reading is out of date. */
  stale?: string[]
}

/**
 * A driver instance's small durable memory (e.g. the time of the last reading
 * it published), kept across restarts. Values must be JSON. The host saves it
 * shortly after a change, and only once the readings added before the change
 * are safe in the outboxes, so a crash can repeat work but never skip any.
 */
export interface DriverStateStore {
  get<T = unknown>(key: string): T | undefined
  set(key: string, value: unknown): void
}

/** Log lines from a driver, prefixed with its path by the host. */
export interface DriverLogger {
  info(message: string): void
  warn(message: string): void
  error(message: string, error?: unknown): void
}

/**
 * A driver's view of the source: paths are relative to where
 * the driver is attached, uuids come from the driver instance's namespace.
 */
export interface DriverContext {
  /** Where the driver is attached in the tree, e.g. `/instrument0`. */
  readonly path: string
  /** The driver instance's uuid namespace. */
  readonly namespace: string
  /** Fires when the driver is stopped or restarted: pass it to fetch() and timers. */
  readonly signal: AbortSignal
  readonly logger: DriverLogger
  /** Durable memory of this driver instance, kept across restarts. */
  readonly state: DriverStateStore
  /** The current time in Unix ms (controllable in the test harness). */
  now(): number
  /** The uuid of `key` in this driver's namespace. */
  uuid(key: string): string
  addTimeseries(path: string, key: string, unit: string, options?: Omit<DriverTimeseriesOptions, 'unit' | 'key'>): TimeseriesHandle
  addTimeseries(path: string, options: DriverTimeseriesOptions): TimeseriesHandle
  /**
   * Adds an actuator point: a stream of the states the device reached, which
   * authorized clients change with `PUT /data/PATH?state=V`. Writes to one
   * point never overlap; the host reads the device after each.
   * @example
   * ctx.addActuator('/setpoint', { unit: 'C', model: 'continuous', min: 10, max: 30, step: 0.5,
   *   write: (v, { signal }) => device.setSetpoint(v, signal), read: (signal) => device.setpoint(signal) })
   */
  addActuator(path: string, options: DriverActuatorOptions): ActuatorHandle
  addCollection(path: string, options?: { description?: string }): void
  setMetadata(path: string, metadata: MetadataInput): void
  add(path: string, value: ReadingValue): void
  add(path: string, time: number, value: ReadingValue): void
  /** Reports the health of the device or feed (shown in `/status`); call it again when it changes. */
  setHealth(health: DriverHealth): void
  /**
   * Runs `fn` now and every `seconds`, never two runs at once. A throw, or a
   * run longer than `timeout`, counts as a failure: the host logs it and
   * restarts the driver with backoff.
   */
  periodic(fn: (signal: AbortSignal) => unknown, seconds: number, options?: DriverPeriodicOptions): DriverJob
}

/** The time range of a history import, in Unix ms (`end` exclusive). */
export interface LoadRange {
  start: number
  end: number
}

/** Any zod schema. */
export type OptionsSchema = z.ZodType

/** What `defineDriver` takes: a driver's name, option schema and lifecycle. */
export interface DriverDefinition<S extends OptionsSchema = OptionsSchema> {
  /** A short name for logs and `/status`, e.g. `dent`. */
  name: string
  description?: string
  /** Options from the config section; values arrive as strings, so use `z.coerce`. */
  options?: S
  /**
   * Names of options whose values are file paths. The host resolves a
   * relative one against the folder of the config file before `options`
   * parses it, so a schema may read the file; `dump` writes the value as written.
   * @example files: ['RegisterMap']
   */
  files?: string[]
  /** Builds the driver's part of the tree. All setups run before any start. */
  setup(ctx: DriverContext, options: z.output<S>): void | Promise<void>
  /** Begins producing data, typically with `ctx.periodic`. */
  start?(ctx: DriverContext, options: z.output<S>): void | Promise<void>
  /** Releases what `start` acquired; jobs and `ctx.signal` are handled by the host. */
  stop?(ctx: DriverContext): void | Promise<void>
  /** Imports history for `range`, adding readings with explicit times. */
  load?(ctx: DriverContext, range: LoadRange, options: z.output<S>): void | Promise<void>
}

/**
 * Defines a driver; returns its input, typed. Export it from your package
 * (default export, or a named one that configs pick with `package#Name`).
 * @example
 * export default defineDriver({
 *   name: 'counter',
 *   options: z.object({ Rate: z.coerce.number().positive().default(1) }),
 *   setup(ctx) { ctx.addTimeseries('/sensor0', 'mysensor', 'V') },
 *   start(ctx, opts) { let n = 0; ctx.periodic(() => ctx.add('/sensor0', n++), opts.Rate) },
 * })
 */
export function defineDriver<S extends OptionsSchema = z.ZodObject<Record<string, never>>>(definition: DriverDefinition<S>): DriverDefinition<S> {
  return definition
}
