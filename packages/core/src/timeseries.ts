import { checkReading, cloneMetadata, fitsReadingType, SmapError } from '@smap/sdk'
import type { Metadata, Reading, ReadingType, ReadingValue, TimeseriesObject } from '@smap/sdk'
import type { ResourceOwner } from './driver-host.js'

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
const MAX_BUFFER_SIZE = 100_000

/** Called for every reading added to a stream. */
export type ReadingListener = (ts: Timeseries, time: number, value: ReadingValue) => void

/** The part of the instance a timeseries needs. */
export interface TimeseriesOwner {
  readonly timezone: string
  readonly readingListeners: readonly ReadingListener[]
}

/** A stream of readings at one path; made by `SmapInstance.addTimeseries`. */
export class Timeseries {
  readonly type = 'Timeseries' as const
  readonly path: string
  readonly uuid: string
  /** The key given, or undefined when the uuid comes from the path or was given explicitly. */
  readonly key: string | undefined
  /** Whether the uuid was given rather than derived. */
  readonly explicitUuid: boolean
  /** @internal the driver that made this stream, if any. */
  _owner: ResourceOwner | undefined
  /** @internal bumped when metadata or description change, so reports resend the full object. */
  _metaVersion = 1
  /** @internal the report channels its readings go to, valid while `_reportVersion` matches the reporter's. */
  _reportTargets: unknown[] = []
  _reportVersion = 0
  readonly unit: string
  readonly readingType: ReadingType
  readonly bufferSize: number
  description: string | undefined
  /** @internal the metadata object itself; read it with `metadata`. */
  readonly _metadata: Metadata = {}
  readonly #timezone: string | undefined
  readonly #owner: TimeseriesOwner
  readonly #times: number[]
  readonly #values: ReadingValue[]
  #next = 0
  #count = 0

  /** @internal use `SmapInstance.addTimeseries`. */
  constructor(owner: TimeseriesOwner, path: string, uuid: string, options: TimeseriesOptions & { explicitUuid?: boolean }) {
    this.#owner = owner
    this.path = path
    this.uuid = uuid
    this.key = options.key
    this.explicitUuid = options.explicitUuid ?? false
    if (typeof options.unit !== 'string' || options.unit.trim() === '') {
      throw new SmapError('SMAP_TIMESERIES_INVALID', `timeseries ${path} needs a unit (Properties/UnitofMeasure), such as "V" or "kW"`)
    }
    this.unit = options.unit
    const readingType = options.readingType ?? 'long'
    if (readingType !== 'long' && readingType !== 'double' && readingType !== 'string') {
      throw new SmapError('SMAP_TIMESERIES_INVALID', `timeseries ${path}: ReadingType must be long, double or string, got "${String(readingType)}"`)
    }
    this.readingType = readingType
    this.#timezone = options.timezone === undefined ? undefined : checkTimezone(options.timezone, `timeseries ${path}`)
    const size = options.bufferSize ?? DEFAULT_BUFFER_SIZE
    if (!Number.isInteger(size) || size < 1 || size > MAX_BUFFER_SIZE) {
      throw new SmapError('SMAP_TIMESERIES_INVALID', `timeseries ${path}: BufferSize must be a whole number from 1 to ${MAX_BUFFER_SIZE}, got ${String(size)}`)
    }
    this.bufferSize = size
    this.description = options.description
    this.#times = new Array<number>(size)
    this.#values = new Array<ReadingValue>(size)
  }

  /** The stream's time zone: its own, else the instance's. */
  get timezone(): string {
    return this.#timezone ?? this.#owner.timezone
  }

  /** The time zone set on this stream itself, if any (for `dump`). */
  get ownTimezone(): string | undefined {
    return this.#timezone
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
    if (b === undefined) this.addAt(Date.now(), a)
    else this.addAt(a as number, b)
  }

  /** Adds one reading at `time` (Unix ms); the hot path behind every `add`. */
  addAt(time: number, value: ReadingValue): void {
    if (!fitsReadingType(this.readingType, value) || typeof time !== 'number' || !(time >= 0) || time === Infinity) {
      checkReading(this.path, this.readingType, time, value)
    }
    const i = this.#next
    this.#times[i] = time
    this.#values[i] = value
    this.#next = i + 1 === this.bufferSize ? 0 : i + 1
    if (this.#count < this.bufferSize) this.#count++
    const owner = this._owner
    if (owner !== undefined) owner.lastReadingTime = Date.now()
    const listeners = this.#owner.readingListeners
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

  /** The object served at `/data/PATH` (DESIGN.md §3). */
  toJSON(): TimeseriesObject {
    const out: TimeseriesObject = {
      uuid: this.uuid,
      Properties: { UnitofMeasure: this.unit, ReadingType: this.readingType, Timezone: this.timezone },
      Readings: this.readings,
    }
    if (this.description !== undefined) out.Description = this.description
    if (Object.keys(this._metadata).length > 0) out.Metadata = cloneMetadata(this._metadata)
    return out
  }
}

/** The zone name if the runtime knows it; else a clear error naming `where`. */
export function checkTimezone(zone: string, where: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return zone
  } catch {
    throw new SmapError('SMAP_TIMEZONE_INVALID', `${where}: unknown time zone "${zone}"; use an IANA name such as America/Los_Angeles or UTC`)
  }
}
