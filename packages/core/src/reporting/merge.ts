import { rm } from 'node:fs/promises'
import { Chunk, encodeChunk, type OutboxEntry, type Segment, type SegmentDoc, type StreamCount } from './chunk.js'
import { Store } from './store.js'

/**
 * Whether a sealed segment's chunks are worth rewriting as fewer: a flush
 * every 100 ms of a few streams writes a chunk of a reading or two, and each
 * costs about a kilobyte of memory while it waits for delivery.
 */
export function worthMerging(chunks: readonly Chunk[], max: number): boolean {
  let readings = 0
  for (const c of chunks) readings += c.remaining
  return chunks.length >= 4 && chunks.length > 2 * Math.ceil(readings / max)
}

/**
 * The undelivered readings of `chunks` (their readings in `entries`, in the
 * same order), regrouped as chunks of up to `max`: per stream in the order
 * they were stored.
 */
export function regroup(chunks: readonly Chunk[], entries: readonly OutboxEntry[][], max: number): OutboxEntry[][] {
  const groups: OutboxEntry[][] = []
  let group = new Map<string, OutboxEntry>()
  let size = 0
  chunks.forEach((chunk, c) => {
    ;(entries[c] as OutboxEntry[]).forEach((e, i) => {
      for (let from = chunk.off[i] ?? 0; from < e.r.length; ) {
        if (size === max) {
          groups.push([...group.values()])
          group = new Map()
          size = 0
        }
        const key = `${e.p}\u0000${e.u}`
        let g = group.get(key)
        if (g === undefined) group.set(key, (g = { p: e.p, u: e.u, r: [] }))
        const to = Math.min(e.r.length, from + (max - size))
        for (let k = from; k < to; k++) g.r.push(e.r[k] as OutboxEntry['r'][number])
        size += to - from
        from = to
      }
    })
  })
  if (size > 0) groups.push([...group.values()])
  return groups
}

/**
 * `seg` rewritten with the undelivered readings of `chunks` as few chunks of
 * up to `max` readings, numbered by `nextSeq`: the new segment (same file)
 * and its chunks. Throws if the file cannot be written; the old one stays.
 */
export async function mergeSegment(
  seg: Segment,
  chunks: readonly Chunk[],
  entries: readonly OutboxEntry[][],
  max: number,
  nextSeq: () => number,
  intern: (path: string) => StreamCount,
): Promise<[Segment, Chunk[]]> {
  const groups = regroup(chunks, entries, max)
  const t = chunks.reduce((min, c) => Math.min(min, c.created), Number.POSITIVE_INFINITY)
  const docs = groups.map((e) => {
    const s = nextSeq()
    return { _id: `c${s}`, s, t, ...encodeChunk(e) }
  })
  const ds = await replaceSegmentFile(seg.file, docs)
  const next: Segment = { ...seg, ds, warm: 0, pinned: false, live: docs.length, readings: 0, written: 0, bytes: 0, damaged: false }
  const out = docs.map((d, k) => {
    const e = groups[k] as OutboxEntry[]
    next.readings += e.reduce((n, x) => n + x.r.length, 0)
    const text = 'w' in d ? d.w : d.j
    next.bytes += text.length
    return new Chunk(d.s, d.t, e, e.map(() => 0), next, text.length, intern, 'w' in d ? d.w : undefined)
  })
  next.written = next.readings
  return [next, out]
}

/**
 * Writes `docs` as a new segment file that replaces `file`: written beside it
 * and flushed to disk, then renamed over it, so a crash leaves the old file
 * or the new one, whole (a `.merge` file left by a crash is removed at open).
 */
export async function replaceSegmentFile(file: string, docs: SegmentDoc[]): Promise<Store<SegmentDoc>> {
  const tmp = `${file}.merge`
  try {
    await rm(tmp, { force: true })
    const ds = await Store.open<SegmentDoc>(tmp)
    await ds.insert(docs)
    await ds.fsync()
    await ds.moveTo(file)
    return ds
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    throw err
  }
}
