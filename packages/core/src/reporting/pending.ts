import type { Reading, ReadingValue } from '@smap/sdk'
import type { Timeseries } from '../tree/timeseries.js'

/** Readings a channel holds in memory until they are written to its outbox, per stream in order. */
export class PendingReadings {
  #byStream = new Map<Timeseries, Reading[]>()
  #count = 0

  get count(): number {
    return this.#count
  }

  get empty(): boolean {
    return this.#byStream.size === 0
  }

  push(ts: Timeseries, time: number, value: ReadingValue): void {
    let arr = this.#byStream.get(ts)
    if (arr === undefined) this.#byStream.set(ts, (arr = []))
    arr.push([time, value])
    this.#count++
  }

  /** Takes up to `max` readings out, the oldest of each stream first. */
  take(max: number): Map<Timeseries, Reading[]> {
    if (this.#count <= max) return this.clear()
    const piece = new Map<Timeseries, Reading[]>()
    let n = 0
    for (const [ts, r] of this.#byStream) {
      if (n >= max) break
      const take = Math.min(r.length, max - n)
      piece.set(ts, r.splice(0, take))
      if (r.length === 0) this.#byStream.delete(ts)
      n += take
    }
    this.#count -= n
    return piece
  }

  /** Puts `batch` (taken earlier, `count` readings) back ahead of what came since. */
  putBack(batch: Map<Timeseries, Reading[]>, count: number): void {
    for (const [ts, r] of this.#byStream) {
      const before = batch.get(ts)
      batch.set(ts, before ? before.concat(r) : r)
    }
    this.#byStream = batch
    this.#count += count
  }

  /** Keeps at most `cap` readings a stream, the newest; returns how many were dropped. */
  cap(cap: number): number {
    let dropped = 0
    for (const r of this.#byStream.values()) {
      if (r.length > cap) {
        const n = r.length - cap
        r.splice(0, n)
        dropped += n
      }
    }
    this.#count -= dropped
    return dropped
  }

  /** Empties it; returns what it held. */
  clear(): Map<Timeseries, Reading[]> {
    const all = this.#byStream
    this.#byStream = new Map()
    this.#count = 0
    return all
  }
}
