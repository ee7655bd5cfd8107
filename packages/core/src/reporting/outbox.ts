import { mkdir, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { Logger } from '../logger.js'
import { Chunk, decodeChunk, encodeChunk, readSegmentDoc, splitChunks, type ChunkDoc, type OutboxEntry, type Segment, type SegmentDoc, type Slice } from './chunk.js'
import { leaseId, OutboxLease, type LeaseOwner } from './lease.js'
import { mergeSegment, worthMerging } from './merge.js'
import { ChunkQueue } from './queue.js'
import { openSegment, quarantine, type Quarantined } from './segment-file.js'
import { Segments } from './segments.js'
import { Store } from './store.js'
import { DEFAULT_MAX_BUFFER } from './subscription.js'

export type { OutboxEntry }

/** Options of an outbox. */
export interface OutboxOptions {
  /** Readings kept per stream; beyond it the oldest go (default 10,000). */
  maxPerStream?: number
  /** Readings per chunk document (default 10,000, the most one POST carries). */
  chunkReadings?: number
  /** A segment file is closed (and deleted once delivered) after this many readings (default 100,000), ... */
  segmentReadings?: number
  /** ... or bytes (default 4 MiB), ... */
  segmentBytes?: number
  /** ... or milliseconds since it was started (default 60 s), so delivered data leaves the disk while delivery keeps up. */
  segmentAgeMs?: number
  /** Readings kept parsed in memory (default 30,000, three POSTs); the rest of the backlog is read back from disk as it is delivered. */
  memoryReadings?: number
  /** fsync after every write (survives power loss, costs throughput). */
  fsync?: boolean
  logger: Logger
}

const SEGMENT_FILE = /^seg-(\d{8})\.db$/

/** How far over the cap a stream may go before it is trimmed (so that trims, and their offset writes, are infrequent). */
const capSlack = (cap: number): number => Math.max(1, Math.floor(cap / 10))

/**
 * A durable FIFO of readings on NeDB, in segment files of chunk documents.
 * Readings leave only when `consume`d (delivered or dead-lettered) or when a
 * stream exceeds its cap; a segment whose chunks are all gone is deleted as a
 * file, so the store never needs compacting. Trims and partial deliveries are
 * recorded as small offset documents, never by rewriting a chunk.
 *
 * Memory does not grow with the backlog's readings: only the chunks at the
 * head (and the newest, while they fit) are kept parsed, up to
 * `memoryReadings`; the others keep their paths, lengths and offsets, and
 * their readings are read back from the segment when they are taken.
 */
export class Outbox implements LeaseOwner {
  readonly dir: string
  readonly maxPerStream: number
  readonly #chunkReadings: number
  readonly #segmentReadings: number
  readonly #segmentBytes: number
  readonly #segmentAgeMs: number
  readonly #fsync: boolean
  readonly #logger: Logger
  readonly #queue: ChunkQueue
  readonly #segments = new Segments()
  #nextSeq = 1
  #nextSegment = 1
  #progress: Promise<void> = Promise.resolve()
  /** readings dropped by the cap (or unreadable), per stream path */
  readonly dropped: Map<string, number>
  /** readings found on disk when opened */
  restored = 0
  /** damaged segment files found when opened, and where they are kept */
  readonly quarantined: Quarantined[] = []
  /** the last write error, until a write succeeds again */
  writeError: string | undefined

  private constructor(dir: string, options: OutboxOptions) {
    this.dir = dir
    this.maxPerStream = options.maxPerStream ?? DEFAULT_MAX_BUFFER
    this.#chunkReadings = options.chunkReadings ?? 10_000
    this.#segmentReadings = options.segmentReadings ?? 100_000
    this.#segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024
    this.#segmentAgeMs = options.segmentAgeMs ?? 60_000
    this.#queue = new ChunkQueue(options.memoryReadings ?? 30_000)
    this.dropped = this.#queue.dropped
    this.#fsync = options.fsync ?? false
    this.#logger = options.logger
  }

  /** Opens (or creates) the outbox in `dir`, loading what a previous run left. */
  static async open(dir: string, options: OutboxOptions): Promise<Outbox> {
    const box = new Outbox(dir, options)
    await mkdir(dir, { recursive: true })
    // a crash inside NeDB's crash-safe rewrite can leave only `seg-N.db~`; NeDB restores it on load
    const names = await readdir(dir)
    // a rewrite cut short by a crash: the segment it was made from is whole
    for (const f of names) if (f.endsWith('.merge')) await rm(join(dir, f), { force: true })
    // Chunk numbers name batches (X-Smap-Batch-Id), so they must never repeat, even when every
    // chunk was delivered and no file remembers the last one, nor when a file rewritten while
    // loading numbers its new chunks before the later files are read: start from the clock in
    // microseconds, which only a wildly wrong clock undercuts.
    box.#nextSeq = Date.now() * 1000
    const files = [...new Set(names.map((f) => (f.endsWith('~') ? f.slice(0, -1) : f)).filter((f) => SEGMENT_FILE.test(f)))].sort()
    for (const f of files) {
      await box.#loadSegment(join(dir, f), Number(SEGMENT_FILE.exec(f)?.[1]))
      await yieldToLoop() // one segment at a time, so GETs are served while a big backlog loads
    }
    box.restored = box.#queue.buffered
    box.#enforceCap(new Set(box.#queue.streams()), true) // the cap may have been lowered since
    box.#segments.letGo()
    return box
  }

  async #loadSegment(file: string, n: number): Promise<void> {
    this.#nextSegment = Math.max(this.#nextSegment, n + 1)
    const found = await openSegment(this.dir, file, this.#logger, (q) => this.quarantined.push(q))
    if (found === undefined) return
    const { ds, chunks, offsets, readOnly } = found
    // a segment read as it is on a full disk may end with a torn line: nothing is appended to it
    let seg: Segment = { n, file, ds, warm: 0, pinned: false, live: 0, readings: 0, written: 0, bytes: 0, created: 0, sealed: true, damaged: readOnly }
    let live: Chunk[] = []
    for (const [k, c] of chunks.entries()) {
      if (k > 0 && c.e === undefined) await yieldToLoop() // one chunk parsed per turn: a segment can hold a whole big flush
      let e: OutboxEntry[]
      try {
        e = decodeChunk(c)
      } catch (err) {
        this.quarantined.push(await quarantine(this.dir, file, 'copy', `chunk ${c.s} unreadable: ${(err as Error).message}`, this.#logger))
        continue
      }
      const chunk = new Chunk(c.s, c.t, e, offsets.get(c.s) ?? e.map(() => 0), seg, (c.w ?? c.j)?.length ?? 0, this.#queue.intern, c.w)
      this.#nextSeq = Math.max(this.#nextSeq, c.s + 1)
      if (chunk.remaining === 0) {
        // not recorded (a full disk): it is found delivered again next time
        if (!seg.damaged) await this.#removeDocs(chunk).catch(() => {})
        continue
      }
      seg.live++
      seg.readings += chunk.remaining
      live.push(chunk)
    }
    if (seg.live === 0) {
      await this.#segments.delete(seg)
      return
    }
    if (worthMerging(live, this.#chunkReadings)) {
      const merged = await this.#merge(seg, live, live.map((c) => c.entries))
      if (merged) [seg, live] = merged
    }
    this.#segments.list.push(seg)
    for (const chunk of live) this.#queue.push(chunk)
  }

  /** Rewrites a sealed segment as few chunks; the new segment and its chunks, or undefined if it could not be written (the old one stays, and says so). */
  async #merge(seg: Segment, chunks: Chunk[], entries: OutboxEntry[][]): Promise<[Segment, Chunk[]] | undefined> {
    try {
      return await mergeSegment(seg, chunks, entries, this.#chunkReadings, () => this.#nextSeq++, this.#queue.intern)
    } catch (err) {
      this.#logger.warn(`could not rewrite ${seg.file} as fewer, bigger chunks (${(err as Error).message}); it is kept as it is`)
      return undefined
    }
  }

  /** After a segment is sealed: its small chunks rewritten as few, while nothing lends or trims them. */
  async #mergeSealed(seg: Segment): Promise<void> {
    if (!this.#segments.includes(seg)) return
    const chunks = this.#queue.live().filter((c) => c.seg === seg)
    if (!worthMerging(chunks, this.#chunkReadings) || chunks.some((c) => c.inflight)) return
    for (const c of chunks) c.merging = true
    seg.pinned = true
    try {
      const entries: OutboxEntry[][] = []
      for (const c of chunks) {
        const e = c.warm ? c.entries : (await this.#readBack(c))?.entries
        if (e === undefined) return // said why; it is delivered as it is
        entries.push(e)
      }
      const merged = await this.#merge(seg, chunks, entries)
      if (!merged || !this.#segments.includes(seg)) return
      this.#segments.replace(seg, merged[0])
      this.#queue.replaceSegment(seg, merged[1])
    } finally {
      for (const c of chunks) c.merging = false
      seg.pinned = false
    }
  }

  /** Readings waiting for delivery. */
  get buffered(): number {
    return this.#queue.buffered
  }

  /** The most readings any one stream has waiting. */
  get mostBuffered(): number {
    return this.#queue.mostBuffered
  }

  /** Readings dropped by the cap (or unreadable). */
  get droppedTotal(): number {
    return this.#queue.droppedTotal
  }

  /** Segment files whose store is in memory (the oldest, the one appended to, and those with warm chunks). */
  get loadedSegments(): number {
    return this.#segments.list.filter((seg) => seg.ds !== undefined).length
  }

  /** Readings kept parsed in memory (the rest of the backlog is only on disk). */
  get warmReadings(): number {
    return this.#queue.warmReadings
  }

  /** When the oldest undelivered chunk was stored (Unix ms). */
  get oldest(): number | undefined {
    return this.#queue.oldest
  }

  /** Bytes of the undelivered readings (their share of the chunks they are stored in). */
  get undeliveredBytes(): number {
    return this.#queue.undeliveredBytes()
  }

  /** Bytes of the segment files on disk. */
  async bytes(): Promise<number> {
    return this.#segments.bytes()
  }

  /**
   * Stores readings durably (one chunk document per up to 10,000 readings),
   * then applies the per-stream cap. Throws on a write error; the caller keeps
   * the readings and tries again later.
   */
  async append(entries: OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return
    const chunks = splitChunks(entries, this.#chunkReadings)
    const now = Date.now()
    // each chunk's readings as one JSON string, one chunk per turn of the event loop: NeDB then checks,
    // copies and serializes a string, not every value (it did that with a replacer, value by value)
    const docs: ChunkDoc[] = []
    for (const e of chunks) {
      if (docs.length > 0) await yieldToLoop()
      docs.push({ _id: `c${this.#nextSeq}`, s: this.#nextSeq, t: now, ...encodeChunk(e) })
      this.#nextSeq++
    }
    const seg = await this.#activeSegment()
    try {
      const ds = await this.#segments.store(seg)
      await ds.insert(docs)
      if (this.#fsync) await ds.fsync()
    } catch (err) {
      // the file may now end with a torn line: never append to it again
      seg.sealed = true
      seg.damaged = true
      this.#segments.active = undefined
      this.writeError = `${(err as Error).message} (writing ${seg.file})`
      if (seg.live === 0) await this.#segments.delete(seg).catch(() => {})
      throw err
    }
    this.writeError = undefined
    const touched = new Set<string>() // the streams over the cap (and its slack)
    const overCap = this.maxPerStream + capSlack(this.maxPerStream)
    for (const [k, d] of docs.entries()) {
      const e = chunks[k] as OutboxEntry[]
      const text = 'w' in d ? d.w : d.j
      const chunk = new Chunk(d.s, d.t, e, e.map(() => 0), seg, text.length, this.#queue.intern, 'w' in d ? d.w : undefined)
      seg.live++
      seg.readings += chunk.remaining
      seg.written += chunk.total
      seg.bytes += text.length + 64 // the line: the readings and about 64 bytes of document
      this.#queue.push(chunk)
      for (const c of chunk.counts) if (c.buffered > overCap) touched.add(c.path)
    }
    if (seg.written >= this.#segmentReadings || seg.bytes >= this.#segmentBytes) await this.#seal(seg)
    this.#enforceCap(touched)
    this.#segments.letGo()
  }

  /** No more appends to `seg`; once all its readings are gone its file is deleted (now, if they are). */
  async #seal(seg: Segment): Promise<void> {
    seg.sealed = true
    if (this.#segments.active === seg) this.#segments.active = undefined
    if (seg.live === 0) await this.#segments.delete(seg)
    else this.#progress = this.#progress.then(() => this.#mergeSealed(seg))
  }

  async #activeSegment(): Promise<Segment> {
    if (this.#segments.active && !this.#segments.active.sealed && Date.now() - this.#segments.active.created >= this.#segmentAgeMs) await this.#seal(this.#segments.active)
    if (this.#segments.active && !this.#segments.active.sealed) return this.#segments.active
    const n = this.#nextSegment++
    const file = join(this.dir, `seg-${String(n).padStart(8, '0')}.db`)
    const ds = await Store.open<SegmentDoc>(file)
    const seg: Segment = { n, file, ds, warm: 0, pinned: false, live: 0, readings: 0, written: 0, bytes: 0, created: Date.now(), sealed: false, damaged: false }
    this.#segments.list.push(seg)
    this.#segments.active = seg
    return seg
  }

  /** Reads a cold chunk's readings back from its segment; a chunk that cannot be read is counted as dropped, and said so. */
  async #warmUp(chunk: Chunk): Promise<void> {
    const back = await this.#readBack(chunk)
    if (back !== undefined && !chunk.gone && chunk.remaining > 0) this.#queue.warmWith(chunk, back.entries, back.wire)
  }

  async #readBack(chunk: Chunk): Promise<{ entries: OutboxEntry[]; wire?: string } | undefined> {
    let problem: string
    try {
      const d = readSegmentDoc(await (await this.#segments.store(chunk.seg)).get(`c${chunk.seq}`))
      if (d?.kind === 'chunk') {
        const e = decodeChunk(d.chunk)
        if (e.length === chunk.lengths.length && e.every((x, i) => x.r.length === chunk.lengths[i])) return { entries: e, wire: d.chunk.w }
        problem = 'it no longer matches what was stored'
      } else problem = 'it is missing'
    } catch (err) {
      problem = (err as Error).message
    }
    if (chunk.warm) return { entries: chunk.entries, wire: chunk.wire }
    if (chunk.gone || chunk.remaining === 0) return undefined // rewritten or dropped meanwhile: nothing of it to read
    this.#logger.error(`outbox ${this.dir}: chunk ${chunk.seq} in ${chunk.seg.file} cannot be read back (${problem}); its ${chunk.remaining} undelivered readings are counted as dropped`)
    chunk.paths.forEach((_, i) => this.#queue.drop(chunk, i))
    void this.#persistProgress(chunk)
    return undefined
  }

  // Over the cap by more than a tenth, a stream loses its oldest readings down
  // to the cap (the slack keeps trims, and their offset writes, infrequent).
  #enforceCap(paths: Set<string>, strict = false): void {
    for (const chunk of this.#queue.trim(paths, this.maxPerStream, strict ? 0 : capSlack(this.maxPerStream))) void this.#persistProgress(chunk)
  }

  /** Drops the oldest chunk not on loan (the server's byte cap): the readings and bytes it held. */
  dropOldest(): { readings: number; bytes: number } {
    const chunk = this.#queue.oldestFree()
    if (!chunk) return { readings: 0, bytes: 0 }
    const bytes = chunk.undeliveredBytes
    let readings = 0
    chunk.paths.forEach((_, i) => (readings += this.#queue.drop(chunk, i)))
    void this.#persistProgress(chunk)
    return { readings, bytes }
  }

  /** Up to `max` readings from the head, in order, on loan until acknowledged or released; `prefix` starts the batch id. */
  async take(max: number, prefix: string): Promise<OutboxLease> {
    // first the readings it will lend are brought into memory
    let n = 0
    for (const chunk of this.#queue.live(max)) {
      if (chunk.merging && n === 0) {
        await this.#progress // the head is being rewritten: lend from the new chunks
        return this.take(max, prefix)
      }
      if (chunk.merging) break
      if (!chunk.warm) await this.#warmUp(chunk)
      if (chunk.gone) return this.take(max, prefix) // rewritten meanwhile
      n += chunk.remaining
    }
    const out: Slice[] = []
    n = 0
    this.#queue.each((chunk) => {
      if (chunk.remaining === 0) return true
      if (!chunk.warm || chunk.merging) return false // it came in meanwhile: the next take has it
      // a whole chunk that does not fit waits for the next batch: batches keep to whole chunks, which go as stored (payload.ts)
      if (n > 0 && chunk.remaining === chunk.total && n + chunk.remaining > max) return false
      for (let i = 0; i < chunk.lengths.length && n < max; i++) {
        const from = chunk.off[i] ?? 0
        const len = chunk.lengths[i] as number
        if (from >= len) continue
        const to = Math.min(len, from + (max - n))
        out.push({ chunk, i, from, to })
        n += to - from
      }
      chunk.inflight = true
      return n < max
    })
    this.#queue.fit()
    this.#segments.letGo()
    return new OutboxLease(this, out, leaseId(prefix, out, Date.now()))
  }

  /** @internal `lease.release()`: in-flight chunks may be trimmed by the cap again; delivered ones leave memory. */
  release(slices: readonly Slice[]): void {
    for (const s of slices) {
      s.chunk.inflight = false
      if (s.chunk.remaining === 0) this.#queue.cool(s.chunk)
    }
    this.#queue.fit()
  }

  /**
   * @internal `lease.ack()`: removes delivered (or dead-lettered) readings and
   * returns how many it removed (a reading the cap dropped meanwhile is not
   * counted twice); their removal from disk follows, `settled()` awaits it.
   * Chunks stay in flight until `release`.
   */
  consume(slices: readonly Slice[]): number {
    const removed = this.#queue.consume(slices)
    const touched = new Set(slices.map((s) => s.chunk))
    this.#progress = this.#progress.then(async () => {
      for (const chunk of touched) await this.#persistProgress(chunk)
    })
    return removed
  }

  /** Resolves when every removal so far is recorded on disk. */
  settled(): Promise<void> {
    return this.#progress
  }

  async #persistProgress(chunk: Chunk): Promise<void> {
    const seg = chunk.seg
    try {
      if (chunk.remaining === 0) {
        if (chunk.removed) return
        chunk.removed = true
        seg.live--
        if (seg.live === 0 && seg.sealed) await this.#segments.delete(seg)
        else if (!seg.damaged) await this.#removeDocs(chunk)
      } else if (!seg.damaged) {
        await (await this.#segments.store(seg)).put({ _id: `o${chunk.seq}`, s: chunk.seq, o: chunk.off })
      }
      if (this.#fsync && !seg.damaged && seg.ds) await seg.ds.fsync().catch(() => {})
    } catch (err) {
      // not recorded: the readings may be delivered again after a restart, never lost
      this.#logger.warn(`could not record delivery progress in ${seg.file}: ${(err as Error).message}`)
    }
  }

  async #removeDocs(chunk: Chunk): Promise<void> {
    await (await this.#segments.store(chunk.seg)).delete(`c${chunk.seq}`, `o${chunk.seq}`)
  }

  /** Chunks not yet fully delivered. */
  get chunks(): number {
    return this.#queue.length
  }

  /** Removes everything, files included (a deleted subscription). */
  async destroy(): Promise<void> {
    await this.#progress // a rewrite in progress would bring a file back
    for (const seg of [...this.#segments.list]) await this.#segments.delete(seg)
    this.#queue.clear()
  }
}

