import type { CollectionObject, Reading, TimeseriesObject } from '@smap/sdk'
import type { Collection } from '../tree/collection.js'
import { parentPath } from '../tree/path.js'
import type { Timeseries } from '../tree/timeseries.js'
import type { TreeView } from '../tree/tree.js'
import type { OutboxLease } from './lease.js'
import { covers } from './subscription.js'

/** A report body, and the resources it describes in full (to remember once it is acknowledged). */
export interface Payload {
  json: string
  /** The same body as an object (a broker gets it stream by stream); empty when `json` is the outbox's own text (see `#stored`). */
  body: Record<string, CollectionObject | StreamEntry>
  described: Array<[Timeseries | Collection, number]>
}

/** A stream in a report: its full object, or only `uuid` and `Readings`. */
type StreamEntry = Pick<TimeseriesObject, 'uuid' | 'Readings'> & Partial<TimeseriesObject>

/**
 * Report bodies for one subscriber: a stream (and its parent collections)
 * goes in full the first time and after its metadata changes, else as
 * `uuid` and `Readings`.
 */
export class PayloadBuilder {
  readonly #tree: TreeView
  readonly #described = new WeakMap<object, number>()

  constructor(tree: TreeView) {
    this.#tree = tree
  }

  /** Whether any stream is covered by `resource` yet. */
  anyCovered(resource: string): boolean {
    for (const ts of this.#tree.timeseries()) if (covers(resource, ts.path)) return true
    return false
  }

  /** The body for `lease`; with `describeAll`, every stream `resource` covers in full (a new subscriber's first report); `asJson` false leaves `json` empty (a broker takes `body`). */
  build(lease: OutboxLease | undefined, resource: string, describeAll: boolean, asJson = true): Payload {
    const tree = this.#tree
    const out: Record<string, CollectionObject | StreamEntry> = {}
    const streams = new Map<string, StreamEntry>()
    const described: Payload['described'] = []
    const isNew = (r: Timeseries | Collection): boolean => this.#described.get(r) !== r._metaVersion
    if (asJson && !describeAll && lease) {
      const json = this.#stored(lease, isNew)
      if (json !== undefined) return { json, body: {}, described: [] }
    }
    const addParents = (path: string): void => {
      for (let p = parentPath(path); ; p = parentPath(p)) {
        const coll = tree.getCollection(p)
        if (coll && !(p in out) && isNew(coll)) {
          out[p] = coll.toJSON()
          described.push([coll, coll._metaVersion])
        }
        if (p === '/') break
      }
    }
    const describe = (ts: Timeseries): StreamEntry => {
      const obj: StreamEntry = { ...ts.toJSON(), Readings: [] }
      described.push([ts, ts._metaVersion])
      addParents(ts.path)
      return obj
    }
    if (describeAll) {
      for (const ts of tree.timeseries()) {
        if (!covers(resource, ts.path)) continue
        const obj = describe(ts)
        streams.set(ts.path, obj)
        out[ts.path] = obj
      }
    }
    lease?.forEach((e, from, to) => {
      let obj = streams.get(e.p)
      if (obj === undefined) {
        const ts = tree.getTimeseries(e.p)
        obj = ts && ts.uuid === e.u && isNew(ts) ? describe(ts) : { uuid: e.u, Readings: [] }
        streams.set(e.p, obj)
        out[e.p] = obj
      }
      const readings = obj.Readings
      for (let k = from; k < to; k++) readings.push(e.r[k] as Reading)
    })
    return { json: asJson ? JSON.stringify(out) : '', body: out, described }
  }

  /**
   * The body as the outbox stored it, when the lease lends whole chunks kept
   * in report form, no stream of which is to be described, and no stream is
   * in two of them: the readings are then not serialized again.
   */
  #stored(lease: OutboxLease, isNew: (ts: Timeseries) => boolean): string | undefined {
    const chunks = lease.wholeChunks()
    if (chunks === undefined || chunks.length === 0) return undefined
    const seen = chunks.length > 1 ? new Set<string>() : undefined
    const texts: string[] = []
    for (const chunk of chunks) {
      if (chunk.wire === undefined) return undefined
      const { paths, uuids } = chunk
      for (let i = 0; i < paths.length; i++) {
        const p = paths[i] as string
        const ts = this.#tree.getTimeseries(p)
        if (ts && ts.uuid === uuids[i] && isNew(ts)) return undefined
        if (seen) {
          if (seen.has(p)) return undefined
          seen.add(p)
        }
      }
      if (chunk.wire.length > 2) texts.push(chunk.wire)
    }
    if (texts.length === 1) return texts[0]
    return `{${texts.map((t) => t.slice(1, -1)).join(',')}}`
  }

  /** The subscriber acknowledged `payload`: what it described need not be sent in full again. */
  acknowledged(payload: Payload): void {
    for (const [r, v] of payload.described) this.#described.set(r, v)
  }
}
