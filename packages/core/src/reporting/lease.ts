import type { Chunk, OutboxEntry, Slice } from './chunk.js'

/** What a lease gives back to its outbox. */
export interface LeaseOwner {
  consume(slices: readonly Slice[]): number
  release(slices: readonly Slice[]): void
}

/**
 * Readings taken from the head of an outbox for one delivery: they stay in
 * the outbox until `ack` (delivered or set aside) and are tried again after
 * `release`. Its `id` names the outbox positions it covers, so a batch keeps
 * its id across retries and restarts and a receiver can drop a repeat.
 */
export class OutboxLease {
  readonly id: string
  readonly count: number
  readonly #slices: readonly Slice[]
  readonly #owner: LeaseOwner

  /** @internal made by `Outbox.take`. */
  constructor(owner: LeaseOwner, slices: readonly Slice[], id: string) {
    this.#owner = owner
    this.#slices = slices
    this.id = id
    let n = 0
    for (const s of slices) n += s.to - s.from
    this.count = n
  }

  /** Calls `fn` for each run of one stream's readings, in order: `entry.r[from]` to `entry.r[to - 1]`. */
  forEach(fn: (entry: OutboxEntry, from: number, to: number) => void): void {
    for (const s of this.#slices) fn(s.chunk.entries[s.i] as OutboxEntry, s.from, s.to)
  }

  /** Its chunks in order, if it lends each of them whole (every reading of every entry), else undefined. */
  wholeChunks(): Chunk[] | undefined {
    const out: Chunk[] = []
    let k = 0
    for (const s of this.#slices) {
      if (k === 0) out.push(s.chunk)
      const chunk = out[out.length - 1] as Chunk
      if (s.chunk !== chunk || s.i !== k || s.from !== 0 || s.to !== chunk.lengths[k]) return undefined
      k = k + 1 === chunk.lengths.length ? 0 : k + 1
    }
    return k === 0 ? out : undefined
  }

  /** A copy of its readings, stream by stream (to set them aside). */
  entries(): OutboxEntry[] {
    const out: OutboxEntry[] = []
    this.forEach((e, from, to) => out.push({ p: e.p, u: e.u, r: e.r.slice(from, to) }))
    return out
  }

  /** Two leases of half the readings each, `ID.1` and `ID.2` (for a receiver that refused the size). */
  split(): [OutboxLease, OutboxLease] {
    const half = Math.ceil(this.count / 2)
    const a: Slice[] = []
    const b: Slice[] = []
    let n = 0
    for (const s of this.#slices) {
      const len = s.to - s.from
      if (n + len <= half) a.push(s)
      else if (n >= half) b.push(s)
      else {
        const cut = s.from + (half - n)
        a.push({ ...s, to: cut })
        b.push({ ...s, from: cut })
      }
      n += len
    }
    return [new OutboxLease(this.#owner, a, `${this.id}.1`), new OutboxLease(this.#owner, b, `${this.id}.2`)]
  }

  /** Removes its readings from the outbox; returns how many (a reading the cap dropped meanwhile is not counted). */
  ack(): number {
    return this.#owner.consume(this.#slices)
  }

  /** Ends the loan: readings not acknowledged are delivered again (and may be trimmed by the cap again). */
  release(): void {
    this.#owner.release(this.#slices)
  }
}

/** Stable across retries and restarts: named by the outbox positions it covers. */
export function leaseId(prefix: string, slices: readonly Slice[], now: number): string {
  if (slices.length === 0) return `${prefix}:empty:${now}`
  const first = slices[0] as Slice
  const last = slices[slices.length - 1] as Slice
  return `${prefix}:${first.chunk.seq}.${first.i}.${first.from}-${last.chunk.seq}.${last.i}.${last.to}`
}
