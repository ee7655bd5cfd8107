import { SmapError } from '@smap/sdk'

export { SmapError }

/**
 * Every code `@smap/core` throws, and the HTTP status a request that met it
 * is answered with. One table: the error handler reads it, and a code that is
 * not here does not type-check.
 */
export const ERROR_STATUS = {
  // the tree
  SMAP_PATH_INVALID: 400,
  SMAP_PATH_EXISTS: 409,
  SMAP_PATH_NOT_FOUND: 404,
  SMAP_NOT_TIMESERIES: 400,
  SMAP_KEY_INVALID: 400,
  SMAP_KEY_DUPLICATE: 409,
  SMAP_TIMESERIES_INVALID: 400,
  SMAP_TIMEZONE_INVALID: 400,
  SMAP_METADATA_INVALID: 400,
  SMAP_READING_INVALID: 400,
  SMAP_UUID_INVALID: 400,
  SMAP_ACTUATOR_INVALID: 400,
  SMAP_STATE_INVALID: 400,
  // actuation
  SMAP_NOT_ACTUATOR: 405,
  SMAP_ACTUATE_TOO_SOON: 429,
  SMAP_ACTUATE_BUSY: 429,
  SMAP_ACTUATE_REFUSED: 502,
  SMAP_ACTUATE_UNAVAILABLE: 503,
  SMAP_ACTUATE_INTERRUPTED: 503,
  SMAP_ACTUATE_TIMEOUT: 504,
  SMAP_JOB_INVALID: 400,
  SMAP_JOB_NOT_FOUND: 404,
  SMAP_JOB_FINISHED: 409,
  SMAP_JOB_WRITE: 503,
  // subscriptions and delivery
  SMAP_REPORT_INVALID: 400,
  SMAP_REPORT_LOCATION: 400,
  SMAP_REPORT_WRITE: 503,
  SMAP_REPORT_LIMIT: 409,
  // config files
  SMAP_CONFIG_INVALID: 400,
  SMAP_CONFIG_SYNTAX: 400,
  SMAP_CONFIG_UNREADABLE: 400,
  SMAP_CONFIG_NO_ROOT: 400,
  SMAP_CONFIG_NO_UUID: 400,
  SMAP_CONFIG_BAD_UUID: 400,
  SMAP_CONFIG_NO_UNIT: 400,
  SMAP_CONFIG_NO_LOCATION: 400,
  SMAP_CONFIG_NO_RESOURCE: 400,
  SMAP_CONFIG_UNKNOWN_SECTION: 400,
  SMAP_CONFIG_UNKNOWN_KEY: 400,
  SMAP_CONFIG_DUPLICATE_SECTION: 400,
  SMAP_CONFIG_DUPLICATE_KEY: 400,
  SMAP_CONFIG_DRIVER_OPTION: 400,
  SMAP_CONFIG_CLEAR_SECRET: 400,
  SMAP_CONFIG_NO_SECRET: 400,
  SMAP_DUMP_UNREPRESENTABLE: 500,
  // drivers: finding and checking them is the operator's to fix, failing inside one is the server's
  SMAP_DRIVER_REF: 400,
  SMAP_DRIVER_OPTIONS: 400,
  SMAP_DRIVER_INVALID: 500,
  SMAP_DRIVER_NOT_FOUND: 500,
  SMAP_DRIVER_NOT_INSTALLED: 500,
  SMAP_DRIVER_IMPORT: 500,
  SMAP_DRIVER_NO_EXPORT: 500,
  SMAP_DRIVER_SDK_MISMATCH: 500,
  SMAP_DRIVER_TIMEOUT: 504,
  SMAP_DRIVER_STOPPED: 503,
  SMAP_DRIVER_NO_LOAD: 500,
  SMAP_DRIVER_NOT_READY: 503,
  SMAP_DRIVER_DISABLED: 409,
  SMAP_DRIVER_NOT_RUNNING: 409,
  SMAP_DRIVERS_FILE: 503,
  SMAP_PERIODIC_INVALID: 500,
  // history imports
  SMAP_IMPORT_RANGE: 400,
  SMAP_IMPORT_NO_DRIVER: 400,
  SMAP_IMPORT_NO_LOAD: 400,
  SMAP_IMPORT_NO_REPORT: 400,
  SMAP_IMPORT_SETUP: 500,
  SMAP_IMPORT_FAILED: 500,
  SMAP_IMPORT_DROPPED: 500,
  SMAP_IMPORT_REJECTED: 500,
  // serving
  SMAP_SERVE_INVALID: 500,
  SMAP_SERVE_PORT_IN_USE: 500,
  SMAP_SERVE_BAD_HOST: 500,
  SMAP_SERVE_DENIED: 500,
  SMAP_SERVE_TLS: 500,
} as const satisfies Record<`SMAP_${string}`, number>

/** A code `@smap/core` throws. */
export type ErrorCode = keyof typeof ERROR_STATUS

/** A `SmapError` with one of core's codes (the only way core makes one, so every code is in the table). */
export function smapError(code: ErrorCode, message: string, options?: { cause?: unknown }): SmapError {
  return new SmapError(code, message, options)
}

/** The HTTP status for an error met while answering a request: the table's, 502 for a driver's own code, else 500. */
export function httpStatus(err: unknown): number {
  if (!(err instanceof SmapError)) return 500
  return (ERROR_STATUS as Record<string, number>)[err.code] ?? 502
}

/** Where in a config file a problem is. */
export interface ConfigLocation {
  file: string
  line?: number
  section?: string
  key?: string
}

/** `conf.ini:12 [/meter] Rate` — the prefix of every config message. */
export function formatLocation({ file, line, section, key }: ConfigLocation): string {
  let out = line === undefined ? file : `${file}:${line}`
  if (section !== undefined) out += ` [${section}]`
  if (key !== undefined) out += ` ${key}`
  return out
}

/** A problem in a config file: the message starts with `file:line [section] key:`. */
export class ConfigError extends SmapError {
  readonly file: string
  readonly line: number | undefined
  readonly section: string | undefined
  readonly key: string | undefined
  readonly problem: string
  constructor(code: ErrorCode, where: ConfigLocation, problem: string, options?: { cause?: unknown }) {
    super(code, `${formatLocation(where)}: ${problem}`, options)
    this.name = 'ConfigError'
    this.file = where.file
    this.line = where.line
    this.section = where.section
    this.key = where.key
    this.problem = problem
  }

  /** The same problem, found in a config at `where`: a model error gets the file, line and section it came from. */
  static at(where: ConfigLocation, err: unknown): ConfigError {
    if (err instanceof ConfigError) return err
    const code = err instanceof SmapError && err.code in ERROR_STATUS ? (err.code as ErrorCode) : 'SMAP_CONFIG_INVALID'
    return new ConfigError(code, where, err instanceof Error ? err.message : String(err), { cause: err })
  }
}

/** Several config problems at once (e.g. every bad option of a driver section). */
export class ConfigErrors extends SmapError {
  readonly errors: ConfigError[]
  constructor(errors: ConfigError[]) {
    super('SMAP_CONFIG_INVALID', errors.map((e) => e.message).join('\n'))
    this.name = 'ConfigErrors'
    this.errors = errors
  }
}

/** A failure inside a driver, or of the host's work for one: names the driver's path. */
export class DriverError extends SmapError {
  /** Where the driver is attached. */
  readonly driver: string
  constructor(code: ErrorCode, driver: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'DriverError'
    this.driver = driver
  }
}

/** A write to an actuator that did not happen; `retryAfterMs` says when to try again, where that is known. */
export class ActuationError extends SmapError {
  readonly path: string
  readonly retryAfterMs: number | undefined
  constructor(code: ErrorCode, path: string, message: string, options?: { cause?: unknown; retryAfterMs?: number }) {
    super(code, message, options)
    this.name = 'ActuationError'
    this.path = path
    this.retryAfterMs = options?.retryAfterMs
  }
}

/** A value the model refused, with the rule it broke, so a config can say it in its own terms (`expected ..., got "..."`). */
export class FieldError extends SmapError {
  /** The option that was wrong, e.g. `bufferSize`. */
  readonly field: string
  /** What it must be, e.g. `a whole number from 1 to 100000`. */
  readonly expected: string
  constructor(code: ErrorCode, message: string, field: string, expected: string) {
    super(code, message)
    this.name = 'SmapError'
    this.field = field
    this.expected = expected
  }
}
