import type { Metadata, Reading, ReadingType, ReadingValue, TimeseriesObject } from '@smap/sdk'
import { FieldError, smapError } from '../errors.js'
import type { ActuatorModel } from './actuator.js'
import { checkDescription, cloneMetadata } from './metadata.js'
import { checkReading, checkTimezone, fitsReadingType, MAX_TIME } from './reading.js'

/** Options of a new timeseries; only `unit` is required. */
export interface TimeseriesOptions {
  /** `Properties/UnitofMeasure`, e.g. `V`, `kW`. */
  unit: string
  /** Durable name of the stream: its uuid is uuid5(namespace, key). Default: the path. */
  key?: string
  /** An explicit uuid instead of one derived from the key. */
  uuid?: string
  /** `long` (default), `double` or `string`. */
  readingType?: ReadingType
  /** IANA time zone; default the instance's (`America/Los_Angeles` unless set). */
  timezone?: string
  description?: string
  /** How many latest readings a GET shows (default 1). */
  bufferSize?: number
  /** The uuid namespace of the key: default the root uuid (a driver's streams use the driver's). */
  namespace?: string
}

export const DEFAULT_BUFFER_SIZE = 1
const BUFFER_SIZE_RULE = 'a whole number from 1 to 100000'
const READING_TYPES: readonly string[] = ['long', 'double', 'string']
const READING_TYPE_RULE = 'long, double or string'

/** Called for every reading added to a stream. */
export type ReadingListener = (ts: Timeseries, time: number, value: ReadingValue) => void

/** What a timeseries shares with its tree: the default zone and who hears its readings. */
export interface TimeseriesHome {
  readonly timezone: string
  /** Replaced, never changed in place, when someone subscribes or leaves. */
  readonly listeners: readonly ReadingListener[]
}

/** The rules of a stream's properties but its unit: the values, checked, or an error naming the stream and the rule. */
export function checkProperties(path: string, options: Pick<TimeseriesOptions, 'readingType' | 'timezone' | 'bufferSize'>): { readingType: ReadingType; timezone: string | undefined; bufferSize: number } {
  const readingType = options.readingType ?? 'long'
  if (!READING_TYPES.includes(readingType)) {
    throw new FieldError('SMAP_TIMESERIES_INVALID', `timeseries ${path}: ReadingType must be ${READING_TYPE_RULE}, got "${String(readingType)}"`, 'readingType', READING_TYPE_RULE)
  }
  const timezone = options.timezone === undefined ? undefined : checkTimezone(options.timezone, `timeseries ${path}`)
  const bufferSize = options.bufferSize ?? DEFAULT_BUFFER_SIZE
  if (!Number.isInteger(bufferSize) || bufferSize < 1 || bufferSize > 100_000) {
    throw new FieldError('SMAP_TIMESERIES_INVALID', `timeseries ${path}: BufferSize must be ${BUFFER_SIZE_RULE}, got ${String(bufferSize)}`, 'bufferSize', BUFFER_SIZE_RULE)
  }
  return { readingType, timezone, bufferSize }
}

/** A stream of readings at one path; made by `addTimeseries`. */
export class Timeseries {
  readonly type = 'Timeseries' as const
  readonly path: string
  readonly uuid: string
  /** The key given, or undefined when the uuid comes from the path or was given explicitly. */
  readonly key: string | undefined
  /** Whether the uuid was given rather than derived. */
  readonly explicitUuid: boolean
  /** @internal its place in the order streams were made: 0, 1, 2, ... (indexes per-stream tables). */
  readonly _seq: number
  /** @internal who made it (a driver instance), an opaque tag the tree only keeps. */
  _owner: object | undefined
  /** @internal bumped when metadata or description change, so reports resend the full object. */
  _metaVersion = 1
  /** @internal how it can be changed, on an actuator point (served as `Actuator`). */
  _actuator: ActuatorModel | undefined
  readonly unit: string
  readonly readingType: ReadingType
  readonly bufferSize: number
  #description: string | undefined
  /** @internal the metadata object itself; read it with `metadata`. */
  readonly _metadata: Metadata = {}
  readonly #timezone: string | undefined
  readonly #home: TimeseriesHome
  readonly #times: number[]
  readonly #values: ReadingValue[]
  #next = 0
  #count = 0

  /** @internal use `addTimeseries`. */
  constructor(home: TimeseriesHome, seq: number, path: string, uuid: string, options: TimeseriesOptions & { explicitUuid?: boolean }) {
    this.#home = home
    this._seq = seq
    this.path = path
    this.uuid = uuid
    this.key = options.key
    this.explicitUuid = options.explicitUuid ?? false
    if (typeof options.unit !== 'string' || options.unit.trim() === '') {
      throw smapError('SMAP_TIMESERIES_INVALID', `timeseries ${path} needs a unit (Properties/UnitofMeasure), such as "V" or "kW"`)
    }
    const checked = checkProperties(path, options)
    this.unit = options.unit
    this.readingType = checked.readingType
    this.#timezone = checked.timezone
    this.bufferSize = checked.bufferSize
    this.#description = checkDescription(options.description, path)
    this.#times = new Array<number>(this.bufferSize)
    this.#values = new Array<ReadingValue>(this.bufferSize)
  }

  /** The stream's time zone: its own, else the instance's. */
  get timezone(): string {
    return this.#timezone ?? this.#home.timezone
  }

  /** The time zone set on this stream itself, if any (for `dump`). */
  get ownTimezone(): string | undefined {
    return this.#timezone
  }

  /** `Description`; setting it checks it is a string (or undefined) and resends the full object to subscribers. */
  get description(): string | undefined {
    return this.#description
  }

  set description(value: string | undefined) {
    this.#description = checkDescription(value, this.path)
    this._metaVersion++
  }

  /** A copy of the stream's metadata. */
  get metadata(): Metadata {
    return cloneMetadata(this._metadata)
  }

  /**
   * Adds a reading stamped now, or at `time` (Unix ms).
   * @example ts.add(42); ts.add(Date.parse('2024-01-01T00:00:00Z'), 42)
   */
  add(value: ReadingValue): void
  add(time: number, value: ReadingValue): void
  add(a: number | ReadingValue, b?: ReadingValue): void {
    this._addEither(Date.now, a, b)
  }

  /** @internal The one place `add(value)` and `add(time, value)` are told apart; `now` stamps the first. */
  _addEither(now: () => number, a: number | ReadingValue, b: ReadingValue | undefined): void {
    if (b === undefined) this.addAt(now(), a)
    else this.addAt(a as number, b)
  }

  /** Adds one reading at `time` (Unix ms); the hot path behind every `add`. */
  addAt(time: number, value: ReadingValue): void {
    if (!fitsReadingType(this.readingType, value) || typeof time !== 'number' || !(time >= 0 && time <= MAX_TIME)) {
      checkReading(this.path, this.readingType, time, value)
    }
    const i = this.#next
    this.#times[i] = time
    this.#values[i] = value
    this.#next = i + 1 === this.bufferSize ? 0 : i + 1
    if (this.#count < this.bufferSize) this.#count++
    const listeners = this.#home.listeners
    for (let k = 0; k < listeners.length; k++) (listeners[k] as ReadingListener)(this, time, value)
  }

  /** The latest `bufferSize` readings, oldest first. */
  get readings(): Reading[] {
    const out: Reading[] = []
    const size = this.bufferSize
    let i = (this.#next - this.#count + size) % size
    for (let n = 0; n < this.#count; n++) {
      out.push([this.#times[i] as number, this.#values[i] as ReadingValue])
      i = i + 1 === size ? 0 : i + 1
    }
    return out
  }

  /** The latest reading, if any. */
  get latest(): Reading | undefined {
    if (this.#count === 0) return undefined
    const i = (this.#next - 1 + this.bufferSize) % this.bufferSize
    return [this.#times[i] as number, this.#values[i] as ReadingValue]
  }

  /** The object served at `/data/PATH`. */
  toJSON(): TimeseriesObject {
    const out: TimeseriesObject = {
      uuid: this.uuid,
      Properties: { UnitofMeasure: this.unit, ReadingType: this.readingType, Timezone: this.timezone },
      Readings: this.readings,
    }
    if (this.description !== undefined) out.Description = this.description
    if (Object.keys(this._metadata).length > 0) out.Metadata = cloneMetadata(this._metadata)
    if (this._actuator) out.Actuator = this._actuator.toJSON()
    return out
  }
}
