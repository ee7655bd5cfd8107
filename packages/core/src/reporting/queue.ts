import type { Chunk, OutboxEntry, Slice, StreamCount } from './chunk.js'

/**
 * The outbox's chunks in memory, oldest first, with the counts `/status` and
 * the cap need: readings buffered (in all and per stream) and dropped. It
 * keeps at most `window` readings warm (parsed); the others are cold.
 */
export class ChunkQueue {
  readonly #items: Chunk[] = []
  #head = 0
  readonly #window: number
  /** readings of the warm chunks */
  #warm = 0
  /** per stream path its count, shared by every chunk (with one string for the path) */
  readonly #streams = new Map<string, StreamCount>()
  buffered = 0
  /** readings dropped (the cap, an unreadable chunk), per stream path */
  readonly dropped = new Map<string, number>()
  droppedTotal = 0

  constructor(window: number) {
    this.#window = window
  }

  readonly intern = (path: string): StreamCount => {
    let known = this.#streams.get(path)
    if (known === undefined) this.#streams.set(path, (known = { path, buffered: 0 }))
    return known
  }

  /** Readings of the stream at `path` in the backlog. */
  bufferedOf(path: string): number {
    return this.#streams.get(path)?.buffered ?? 0
  }

  /** The paths of the streams that have readings in the backlog. */
  streams(): string[] {
    const out: string[] = []
    for (const c of this.#streams.values()) if (c.buffered > 0) out.push(c.path)
    return out
  }

  /** The most readings any one stream has in the backlog. */
  get mostBuffered(): number {
    let most = 0
    for (const c of this.#streams.values()) if (c.buffered > most) most = c.buffered
    return most
  }

  /** Chunks not yet fully delivered or dropped, oldest first, until they hold `upTo` readings (a copy: safe across awaits). */
  live(upTo = Number.POSITIVE_INFINITY): Chunk[] {
    const out: Chunk[] = []
    let n = 0
    for (let q = this.#head; q < this.#items.length && n < upTo; q++) {
      const c = this.#items[q] as Chunk
      if (c.remaining === 0) continue
      out.push(c)
      n += c.remaining
    }
    return out
  }

  /** Calls `fn` for the chunks from the head, oldest first, until it returns false. */
  each(fn: (chunk: Chunk) => boolean | void): void {
    for (let q = this.#head; q < this.#items.length; q++) if (fn(this.#items[q] as Chunk) === false) return
  }

  /** The oldest chunk with readings left that is neither on loan nor being rewritten. */
  oldestFree(): Chunk | undefined {
    for (let q = this.#head; q < this.#items.length; q++) {
      const c = this.#items[q] as Chunk
      if (c.remaining > 0 && !c.inflight && !c.merging) return c
    }
    return undefined
  }

  get length(): number {
    return this.#items.length - this.#head
  }

  get oldest(): number | undefined {
    return this.#items[this.#head]?.created
  }

  /** Bytes of the undelivered readings (their share of the chunks they are stored in). */
  undeliveredBytes(): number {
    let total = 0
    for (let q = this.#head; q < this.#items.length; q++) total += (this.#items[q] as Chunk).undeliveredBytes
    return total
  }

  /** Readings kept parsed in memory. */
  get warmReadings(): number {
    return this.#warm
  }

  /** A new chunk at the tail: counted, and warm while it fits in the window. */
  push(chunk: Chunk): void {
    this.#items.push(chunk)
    const { counts, lengths, off } = chunk
    for (let i = 0; i < counts.length; i++) {
      const n = (lengths[i] as number) - (off[i] ?? 0)
      this.buffered += n
      ;(counts[i] as StreamCount).buffered += n
    }
    if (chunk.warm) this.#warmed(chunk, 1)
    this.fit()
  }

  #warmed(chunk: Chunk, sign: 1 | -1): void {
    this.#warm += sign * chunk.total
    chunk.seg.warm += sign
  }

  /** Cools chunks, newest first, until the warm ones fit the window; chunks on loan stay warm. */
  fit(): void {
    for (let q = this.#items.length - 1; q >= this.#head && this.#warm > this.#window; q--) {
      const chunk = this.#items[q] as Chunk
      if (!chunk.inflight) this.cool(chunk)
    }
  }

  cool(chunk: Chunk): void {
    if (!chunk.warm) return
    chunk.cool()
    this.#warmed(chunk, -1)
  }

  warmWith(chunk: Chunk, entries: OutboxEntry[], wire?: string): void {
    if (chunk.warm) return
    chunk.warmWith(entries, wire)
    this.#warmed(chunk, 1)
  }

  /** The chunks of `seg` from the head on give way to `chunks` (the same readings, rewritten as fewer). */
  replaceSegment(seg: Chunk['seg'], chunks: Chunk[]): void {
    let first = -1
    let last = -1
    for (let q = this.#head; q < this.#items.length; q++) {
      if ((this.#items[q] as Chunk).seg !== seg) continue
      if (first === -1) first = q
      last = q
    }
    if (first === -1) return
    for (const old of this.#items.splice(first, last - first + 1, ...chunks)) {
      old.gone = true
      if (old.warm) this.#warmed(old, -1)
    }
    for (const c of chunks) if (c.warm) this.#warmed(c, 1)
    while (this.#head < this.#items.length && (this.#items[this.#head] as Chunk).remaining === 0) this.#head++
    this.fit()
  }

  /** Removes `n` readings of entry `i` from the backlog. */
  #remove(chunk: Chunk, i: number, n: number): void {
    chunk.off[i] = (chunk.off[i] ?? 0) + n
    chunk.remaining -= n
    chunk.seg.readings -= n
    this.buffered -= n
    ;(chunk.counts[i] as StreamCount).buffered -= n
  }

  /** Drops up to `n` undelivered readings of entry `i`, counted per stream; returns how many. */
  drop(chunk: Chunk, i: number, n = Number.POSITIVE_INFINITY): number {
    const k = Math.min(n, (chunk.lengths[i] as number) - (chunk.off[i] ?? 0))
    if (k <= 0) return 0
    this.#remove(chunk, i, k)
    const p = chunk.paths[i] as string
    this.dropped.set(p, (this.dropped.get(p) ?? 0) + k)
    this.droppedTotal += k
    if (chunk.remaining === 0 && !chunk.inflight) this.cool(chunk)
    return k
  }

  /** Drops the oldest readings of each stream of `paths` over `cap` by more than `slack`, down to `cap`; the chunks it changed. */
  trim(paths: Iterable<string>, cap: number, slack: number): Set<Chunk> {
    const changed = new Set<Chunk>()
    for (const p of paths) {
      let excess = this.bufferedOf(p) - cap
      if (excess <= slack) continue
      this.each((chunk) => {
        if (chunk.inflight || chunk.merging || chunk.remaining === 0) return
        chunk.paths.forEach((cp, i) => {
          if (excess <= 0 || cp !== p) return
          const n = this.drop(chunk, i, excess)
          if (n > 0) changed.add(chunk)
          excess -= n
        })
        return excess > 0
      })
    }
    return changed
  }

  /** Removes delivered readings; returns how many (what was dropped meanwhile is not counted twice). */
  consume(slices: readonly Slice[]): number {
    let removed = 0
    for (const s of slices) {
      const n = s.to - (s.chunk.off[s.i] ?? 0)
      if (n <= 0) continue
      this.#remove(s.chunk, s.i, n)
      removed += n
    }
    while (this.#head < this.#items.length && (this.#items[this.#head] as Chunk).remaining === 0) this.#head++
    // delivered chunks leave at once while the backlog is short (the usual case: they would otherwise keep
    // their per-entry arrays alive, a megabyte a chunk at 100,000 streams), else once they are half the list
    if (this.#head > 0 && (this.#items.length - this.#head <= 256 || this.#head * 2 > this.#items.length)) {
      this.#items.splice(0, this.#head)
      this.#head = 0
    }
    return removed
  }

  clear(): void {
    this.#items.length = 0
    this.#head = 0
    this.#warm = 0
    this.buffered = 0
    for (const c of this.#streams.values()) c.buffered = 0
  }
}
