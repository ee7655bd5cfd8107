import type { Reading } from '@smap/sdk'
import type { Store } from './store.js'

/** Readings of one stream, as stored and delivered. */
export interface OutboxEntry {
  /** path */
  p: string
  /** uuid */
  u: string
  /** readings, oldest first */
  r: Reading[]
}

/** `entries` cut into chunks of at most `max` readings, in order (an entry may be split between two). */
export function splitChunks(entries: readonly OutboxEntry[], max: number): OutboxEntry[][] {
  let total = 0
  for (const e of entries) total += e.r.length
  if (total <= max) return [entries as OutboxEntry[]] // one write of up to a chunk: as it is, without a copy of each entry
  const chunks: OutboxEntry[][] = [[]]
  let size = 0
  for (const e of entries) {
    for (let from = 0; from < e.r.length; ) {
      if (size === max) {
        chunks.push([])
        size = 0
      }
      const take = Math.min(e.r.length - from, max - size)
      ;(chunks[chunks.length - 1] as OutboxEntry[]).push({ p: e.p, u: e.u, r: from === 0 && take === e.r.length ? e.r : e.r.slice(from, from + take) })
      size += take
      from += take
    }
  }
  return chunks
}

/** The documents of a segment file: chunks of readings, and how far each has been consumed. */
export type SegmentDoc = ChunkDoc | { _id: string; s: number; o: number[] }

/** A chunk's document: its readings in report form (`w`) or as a list (`j`), see `encodeChunk`. */
export type ChunkDoc = { _id: string; s: number; t: number } & ({ w: string } | { j: string })

/**
 * A chunk as read back: its readings in report form (`w`), or as a JSON list
 * of entries (`j`: one stream twice in the chunk, or files from before `w`),
 * or, in files from before that, as entries (`e`).
 */
export interface StoredChunk {
  s: number
  t: number
  w?: string
  j?: string
  e?: OutboxEntry[]
}

type WireBody = Record<string, { uuid: string; Readings: OutboxEntry['r'] }>

/**
 * How a chunk's readings are stored: in the form a report carries them
 * (`{"PATH": {"uuid": ..., "Readings": [...]}, ...}`), so that a POST of the
 * whole chunk is that very string, serialized once; a chunk that holds one
 * stream twice cannot be keyed by path and is stored as a list (`j`).
 */
export function encodeChunk(entries: readonly OutboxEntry[]): { w: string } | { j: string } {
  const wire: WireBody = {}
  for (const e of entries) {
    if (Object.hasOwn(wire, e.p)) return { j: JSON.stringify(entries) }
    wire[e.p] = { uuid: e.u, Readings: e.r }
  }
  return { w: JSON.stringify(wire) }
}

/** A stored chunk's readings, as entries (throws if its JSON is damaged). */
export function decodeChunk(c: StoredChunk): OutboxEntry[] {
  if (c.w !== undefined) {
    const wire = JSON.parse(c.w) as WireBody
    const out: OutboxEntry[] = []
    for (const p of Object.keys(wire)) out.push({ p, u: (wire[p] as WireBody[string]).uuid, r: (wire[p] as WireBody[string]).Readings })
    return out
  }
  return c.j !== undefined ? (JSON.parse(c.j) as OutboxEntry[]) : (c.e as OutboxEntry[])
}

/** What a line of a segment file holds, or undefined for a line that is neither a chunk nor offsets. */
export function readSegmentDoc(d: unknown): { kind: 'offsets'; s: number; o: number[] } | { kind: 'chunk'; chunk: StoredChunk } | undefined {
  if (typeof d !== 'object' || d === null) return undefined
  const doc = d as Partial<Record<'s' | 't' | 'w' | 'j' | 'e' | 'o', unknown>>
  if (typeof doc.s !== 'number') return undefined
  if (Array.isArray(doc.o)) return { kind: 'offsets', s: doc.s, o: doc.o as number[] }
  if (typeof doc.w === 'string') return { kind: 'chunk', chunk: { s: doc.s, t: Number(doc.t), w: doc.w } }
  if (typeof doc.j === 'string') return { kind: 'chunk', chunk: { s: doc.s, t: Number(doc.t), j: doc.j } }
  if (Array.isArray(doc.e)) return { kind: 'chunk', chunk: { s: doc.s, t: Number(doc.t), e: doc.e as OutboxEntry[] } }
  return undefined
}

/** One file of the outbox. */
export interface Segment {
  n: number
  file: string
  /** Its store; none while none of its chunks is warm (the outbox loads it again when one is taken). */
  ds: Store<SegmentDoc> | undefined
  /** Chunks of it that are warm, and whether something is working through all of them (a rewrite). */
  warm: number
  pinned: boolean
  live: number
  readings: number
  /** Readings and bytes ever appended to it, and when it was started: it is closed by count, size or age. */
  written: number
  bytes: number
  created: number
  /** No more appends: full, or its file may end with a torn line after a write error. */
  sealed: boolean
  /** A write to it failed: removals are not appended to it (they would glue onto the torn line). */
  damaged: boolean
}

/** Where a chunk lent straight from memory belongs: no file (the disk is failing). */
export const MEMORY_SEGMENT: Readonly<Segment> = Object.freeze({
  n: 0,
  file: '(memory)',
  ds: undefined,
  warm: 0,
  pinned: true,
  live: 0,
  readings: 0,
  written: 0,
  bytes: 0,
  created: 0,
  sealed: true,
  damaged: true,
})

/** A stream's count of readings in the outbox, shared by every chunk that holds some of them (kept per reading, so counting is a field, not a lookup). */
export interface StreamCount {
  readonly path: string
  buffered: number
}

/**
 * Up to 10,000 readings stored as one document. What delivery and the cap
 * need (each entry's path and length, the offsets) is always in memory; the
 * readings themselves only while the chunk is *warm*, in the outbox's memory
 * window. A cold chunk's readings are read back from its segment when taken.
 */
export class Chunk {
  readonly seq: number
  readonly created: number
  /** per entry: its stream's path, its count, and how many readings it holds */
  readonly paths: string[]
  readonly counts: StreamCount[]
  readonly lengths: number[]
  /** per entry: readings already delivered or dropped */
  readonly off: number[]
  readonly seg: Segment
  remaining: number
  /** readings and bytes (of its JSON) when stored, to tell undelivered bytes */
  readonly total: number
  bytes: number
  inflight = false
  /** Being rewritten into a bigger chunk: not lent, not trimmed; `gone` once it was. */
  merging = false
  gone = false
  removed = false
  #entries: OutboxEntry[] | undefined
  #wire: string | undefined
  #uuids: string[] | undefined
  constructor(seq: number, created: number, entries: OutboxEntry[], off: number[], seg: Segment, bytes = 0, intern: (path: string) => StreamCount = (path) => ({ path, buffered: 0 }), wire?: string) {
    this.seq = seq
    this.#wire = wire
    this.created = created
    // kept in report form, its readings are parsed again only if a delivery needs them (a part of it, a broker):
    // the objects of a big chunk then die young instead of weighing on the old generation while it waits
    this.#entries = wire === undefined ? entries : undefined
    this.#uuids = entries.map((e) => e.u)
    this.counts = entries.map((e) => intern(e.p))
    this.paths = this.counts.map((c) => c.path)
    this.lengths = entries.map((e) => e.r.length)
    this.off = off
    this.seg = seg
    this.remaining = entries.reduce((n, e, i) => n + e.r.length - (off[i] ?? 0), 0)
    this.total = entries.reduce((n, e) => n + e.r.length, 0)
    this.bytes = bytes
  }

  /** Its share of the bytes it was stored in that is not delivered yet. */
  get undeliveredBytes(): number {
    return this.remaining > 0 && this.total > 0 ? Math.round((this.bytes * this.remaining) / this.total) : 0
  }

  /** Whether its readings are in memory. */
  get warm(): boolean {
    return this.#entries !== undefined || this.#wire !== undefined
  }

  /** Its readings; only while warm (the outbox warms what it lends). */
  get entries(): OutboxEntry[] {
    if (this.#entries === undefined && this.#wire !== undefined) this.#entries = decodeChunk({ s: this.seq, t: this.created, w: this.#wire })
    if (this.#entries === undefined) throw new Error(`outbox chunk ${this.seq} is not in memory`)
    return this.#entries
  }

  /** Per entry its stream's uuid; only while warm (a cold chunk keeps no more per entry than it must). */
  get uuids(): string[] {
    this.#uuids ??= this.entries.map((e) => e.u)
    return this.#uuids
  }

  /** Its readings as stored in report form (see `encodeChunk`), while warm, if it was stored so. */
  get wire(): string | undefined {
    return this.#wire
  }

  /** Puts its readings back in memory, as read back from its segment. */
  warmWith(entries: OutboxEntry[], wire?: string): void {
    this.#entries = wire === undefined ? entries : undefined
    this.#wire = wire
    this.#uuids = entries.map((e) => e.u)
  }

  /** Drops its readings from memory: they stay in its segment file. */
  cool(): void {
    this.#entries = undefined
    this.#wire = undefined
    this.#uuids = undefined
  }
}

/** A part of the outbox on loan to delivery: entry `i` of `chunk`, readings `from` to `to`. */
export interface Slice {
  chunk: Chunk
  i: number
  from: number
  to: number
}
