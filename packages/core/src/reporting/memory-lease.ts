import type { Reading } from '@smap/sdk'
import type { Timeseries } from '../tree/timeseries.js'
import { Chunk, MEMORY_SEGMENT, type OutboxEntry, type Segment, type Slice } from './chunk.js'
import { OutboxLease } from './lease.js'

/** What a lease of readings held in memory tells its channel. */
export interface MemoryLeaseOwner {
  /** `n` readings were acknowledged (delivered or set aside): they leave memory for good. */
  removed(n: number): void
  /** The readings not acknowledged, per stream and in order, when the lease ends. */
  giveBack(rest: Map<Timeseries, Reading[]>, count: number): void
}

/**
 * A lease over readings that never reached the outbox (its disk is failing):
 * delivered like any other batch, and what is not acknowledged goes back to
 * the channel's memory ahead of newer readings.
 */
export function lendFromMemory(batch: Map<Timeseries, Reading[]>, id: string, owner: MemoryLeaseOwner): OutboxLease {
  const streams = [...batch.keys()]
  const entries: OutboxEntry[] = streams.map((ts) => ({ p: ts.path, u: ts.uuid, r: batch.get(ts) as Reading[] }))
  const chunk = new Chunk(0, Date.now(), entries, entries.map(() => 0), MEMORY_SEGMENT as Segment)
  const slices: Slice[] = entries.map((e, i) => ({ chunk, i, from: 0, to: e.r.length }))
  let released = false
  return new OutboxLease(
    {
      consume(taken) {
        let n = 0
        for (const s of taken) {
          const off = chunk.off[s.i] ?? 0
          if (s.to <= off) continue
          n += s.to - off
          chunk.off[s.i] = s.to
        }
        owner.removed(n)
        return n
      },
      release() {
        if (released) return
        released = true
        const rest = new Map<Timeseries, Reading[]>()
        let count = 0
        entries.forEach((e, i) => {
          const left = e.r.slice(chunk.off[i] ?? 0)
          if (left.length === 0) return
          rest.set(streams[i] as Timeseries, left)
          count += left.length
        })
        owner.giveBack(rest, count)
      },
    },
    slices,
    id,
  )
}
