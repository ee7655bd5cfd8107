import { flatten, merge, value } from './format.js'

/** A resource as `GET /data/+` has it. */
export interface ResourceJson {
  uuid?: string
  Contents?: string[]
  Metadata?: Record<string, unknown>
  Properties?: { UnitofMeasure?: string; ReadingType?: string; Timezone?: string }
  Readings?: Array<[number, unknown]>
  Description?: string
  Actuator?: Actuator
}

export type Actuator =
  | { Model: 'binary'; States?: Array<[string, string]> }
  | { Model: 'discrete'; Values: string[] }
  | { Model: 'continuous'; MinValue: number; MaxValue: number; StepSize?: number }
  | { Model: 'continuousInteger'; MinValue: number; MaxValue: number }

/** The readings the page keeps per stream: enough for a chart of the last minutes. */
export const KEEP = 600
/** What a stream that is not on screen keeps of a big tree: its latest readings, so 10,000 streams cost little. */
export const KEEP_HIDDEN = 20

export class Stream {
  readonly times: number[] = []
  readonly values: unknown[] = []
  /** Changed since the page last drew it. */
  dirty = true
  constructor(
    readonly path: string,
    readonly name: string,
    readonly uuid: string,
    readonly unit: string,
    readonly readingType: string,
    readonly description: string | undefined,
    readonly actuator: Actuator | undefined,
    /** Metadata merged down from the root, and Properties, as a consumer sees them. */
    readonly meta: Array<[string, string]>,
    /** Lower-case text the filter looks in: path, description, metadata values. */
    readonly search: string,
  ) {}

  /** Adds readings in time order, dropping any already kept and the oldest past `keep`. */
  add(readings: ReadonlyArray<readonly [number, unknown]>, keep = KEEP): void {
    for (const [t, v] of readings) {
      const last = this.times[this.times.length - 1]
      if (last !== undefined && t <= last) {
        if (t === last) this.values[this.values.length - 1] = v
        else this.#insert(t, v)
        continue
      }
      this.times.push(t)
      this.values.push(v)
    }
    if (this.times.length > keep) {
      this.times.splice(0, this.times.length - keep)
      this.values.splice(0, this.values.length - keep)
    }
    this.dirty = true
  }

  #insert(t: number, v: unknown): void {
    let i = this.times.length
    while (i > 0 && (this.times[i - 1] as number) > t) i--
    if (this.times[i - 1] === t) return
    this.times.splice(i, 0, t)
    this.values.splice(i, 0, v)
  }

  get lastTime(): number | undefined {
    return this.times[this.times.length - 1]
  }

  get lastValue(): unknown {
    return this.values[this.values.length - 1]
  }

  /** A reading with its unit, or its state's name ("heat", "on") for a discrete or binary point. */
  show(v: unknown): string {
    return this.label(v) ?? `${value(v)}${this.unit ? ` ${this.unit}` : ''}`
  }

  /** A reading as a person reads it: a discrete point's value name, a binary point's state name. */
  label(v: unknown): string | undefined {
    const a = this.actuator
    if (a?.Model === 'discrete' && typeof v === 'number') return a.Values[v]
    if (a?.Model === 'binary') return a.States?.find(([n]) => n === String(v))?.[1]
    return undefined
  }
}

export class Collection {
  readonly collections: Collection[] = []
  readonly streams: Stream[] = []
  /** Streams anywhere below. */
  count = 0
  constructor(
    readonly path: string,
    readonly name: string,
    readonly parent: Collection | undefined,
    readonly meta: Record<string, unknown>,
  ) {}
}

export interface Tree {
  root: Collection
  collections: Map<string, Collection>
  streams: Map<string, Stream>
  sourceName: string | undefined
}

const join = (base: string, name: string): string => (base === '/' ? `/${name}` : `${base}/${name}`)

/** The tree from `GET /data/+` (keys are full paths), metadata merged down. */
export function buildTree(data: Record<string, ResourceJson>, previous?: Tree): Tree {
  const collections = new Map<string, Collection>()
  const streams = new Map<string, Stream>()
  const rootJson = data['/'] ?? {}
  const root = new Collection('/', '/', undefined, merge({}, rootJson.Metadata))
  collections.set('/', root)
  const walk = (c: Collection, json: ResourceJson, depth: number): void => {
    if (depth > 64) return
    for (const name of json.Contents ?? []) {
      const path = join(c.path, name)
      const child = data[path]
      if (child === undefined) continue
      if (child.Contents !== undefined && child.uuid === undefined) {
        const sub = new Collection(path, name, c, merge(c.meta, child.Metadata))
        collections.set(path, sub)
        c.collections.push(sub)
        walk(sub, child, depth + 1)
        c.count += sub.count
      } else if (child.uuid !== undefined) {
        const meta = merge(c.meta, child.Metadata)
        const props = child.Properties ?? {}
        const lines = [...flatten(meta, 'Metadata'), ...flatten(props, 'Properties')]
        const search = [path, child.Description ?? '', child.uuid, ...lines.map(([, v]) => v)].join('\n').toLowerCase()
        const s = new Stream(path, name, child.uuid, props.UnitofMeasure ?? '', props.ReadingType ?? 'long', child.Description, child.Actuator, lines, search)
        const kept = previous?.streams.get(path)
        if (kept && kept.uuid === s.uuid) s.add(kept.times.map((t, i) => [t, kept.values[i]] as const))
        s.add(child.Readings ?? [])
        streams.set(path, s)
        c.streams.push(s)
        c.count++
      }
    }
  }
  walk(root, rootJson, 0)
  const name = (root.meta as { SourceName?: unknown }).SourceName
  return { root, collections, streams, sourceName: typeof name === 'string' ? name : undefined }
}
