import { cp, mkdir, readdir, readFile, rename, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { Logger } from '../logger.js'
import { Chunk, readSegmentDoc, type OutboxEntry, type Segment, type SegmentDoc, type Slice, type StoredChunk } from './chunk.js'
import { leaseId, OutboxLease, type LeaseOwner } from './lease.js'
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
  /** fsync after every write (survives power loss, costs throughput). */
  fsync?: boolean
  logger: Logger
}

const SEGMENT_FILE = /^seg-(\d{8})\.db$/

/**
 * A durable FIFO of readings on NeDB, in segment files of chunk documents.
 * Readings leave only when `consume`d (delivered or dead-lettered) or when a
 * stream exceeds its cap; a segment whose chunks are all gone is deleted as a
 * file, so the store never needs compacting. Trims and partial deliveries are
 * recorded as small offset documents, never by rewriting a chunk.
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
  readonly #queue: Chunk[] = []
  #head = 0
  readonly #segments: Segment[] = []
  #active: Segment | undefined
  #nextSeq = 1
  #nextSegment = 1
  #progress: Promise<void> = Promise.resolve()
  #buffered = 0
  /** readings buffered per stream path */
  readonly perStream = new Map<string, number>()
  /** readings dropped by the cap, per stream path */
  readonly dropped = new Map<string, number>()
  droppedTotal = 0
  /** readings found on disk when opened */
  restored = 0
  /** damaged segment files found when opened, and where they are kept */
  readonly quarantined: Array<{ file: string; kept: string | null; problem: string }> = []
  /** the last write error, until a write succeeds again */
  writeError: string | undefined

  private constructor(dir: string, options: OutboxOptions) {
    this.dir = dir
    this.maxPerStream = options.maxPerStream ?? DEFAULT_MAX_BUFFER
    this.#chunkReadings = options.chunkReadings ?? 10_000
    this.#segmentReadings = options.segmentReadings ?? 100_000
    this.#segmentBytes = options.segmentBytes ?? 4 * 1024 * 1024
    this.#segmentAgeMs = options.segmentAgeMs ?? 60_000
    this.#fsync = options.fsync ?? false
    this.#logger = options.logger
  }

  /** Opens (or creates) the outbox in `dir`, loading what a previous run left. */
  static async open(dir: string, options: OutboxOptions): Promise<Outbox> {
    const box = new Outbox(dir, options)
    await mkdir(dir, { recursive: true })
    // a crash inside NeDB's crash-safe rewrite can leave only `seg-N.db~`; NeDB restores it on load
    const names = await readdir(dir)
    const files = [...new Set(names.map((f) => (f.endsWith('~') ? f.slice(0, -1) : f)).filter((f) => SEGMENT_FILE.test(f)))].sort()
    for (const f of files) {
      await box.#loadSegment(join(dir, f), Number(SEGMENT_FILE.exec(f)?.[1]))
      await yieldToLoop() // one segment at a time, so GETs are served while a big backlog loads
    }
    // Chunk numbers name batches (X-Smap-Batch-Id), so they must never repeat,
    // even when every chunk was delivered and no file remembers the last one:
    // start from the clock in microseconds, which only a wildly wrong clock undercuts.
    box.#nextSeq = Math.max(box.#nextSeq, Date.now() * 1000)
    box.restored = box.#buffered
    box.#enforceCap(new Set(box.perStream.keys()), true) // the cap may have been lowered since
    return box
  }

  async #loadSegment(file: string, n: number): Promise<void> {
    this.#nextSegment = Math.max(this.#nextSegment, n + 1)
    // NeDB never settles on a directory or a device: set such a thing aside before it looks
    if (!(await stat(file).then((st) => st.isFile(), () => true))) {
      await this.#quarantine(file, 'move', 'not a file')
      return
    }
    const damaged = await damagedLines(file)
    if (damaged > 0) await this.#quarantine(file, 'copy', `${damaged} damaged line${damaged === 1 ? '' : 's'}; what can be read is kept`)
    let ds: Store<SegmentDoc>
    try {
      ds = await Store.open<SegmentDoc>(file)
    } catch (err) {
      await this.#quarantine(file, 'move', `unreadable: ${(err as Error).message}`)
      return
    }
    const offsets = new Map<number, number[]>()
    const chunks: StoredChunk[] = []
    for (const raw of ds.loaded()) {
      const d = readSegmentDoc(raw)
      if (d?.kind === 'offsets') offsets.set(d.s, d.o)
      else if (d?.kind === 'chunk') chunks.push(d.chunk)
    }
    chunks.sort((a, b) => a.s - b.s)
    const seg: Segment = { n, file, ds, live: 0, readings: 0, written: 0, bytes: 0, created: 0, sealed: true, damaged: false }
    for (const [k, c] of chunks.entries()) {
      if (k > 0 && c.j !== undefined) await yieldToLoop() // one chunk parsed per turn: a segment can hold a whole big flush
      let e: OutboxEntry[]
      try {
        e = c.j !== undefined ? (JSON.parse(c.j) as OutboxEntry[]) : (c.e as OutboxEntry[])
      } catch (err) {
        await this.#quarantine(file, 'copy', `chunk ${c.s} unreadable: ${(err as Error).message}`)
        continue
      }
      const chunk = new Chunk(c.s, c.t, e, offsets.get(c.s) ?? e.map(() => 0), seg, c.j?.length ?? 0)
      this.#nextSeq = Math.max(this.#nextSeq, c.s + 1)
      if (chunk.remaining === 0) {
        await this.#removeDocs(chunk)
        continue
      }
      seg.live++
      seg.readings += chunk.remaining
      this.#queue.push(chunk)
      this.#count(chunk, 1)
    }
    if (seg.live === 0) await this.#deleteSegment(seg)
    else this.#segments.push(seg)
  }

  /**
   * Damaged files are never deleted: a copy (or the thing itself, when it
   * cannot be opened at all) goes to `quarantine/`, named in the log and in
   * `/status`, and what can be read is delivered.
   */
  async #quarantine(file: string, how: 'copy' | 'move', why: string): Promise<void> {
    const target = join(this.dir, 'quarantine', `${basename(file)}.${Date.now()}`)
    try {
      await mkdir(join(this.dir, 'quarantine'), { recursive: true })
      if (how === 'copy') await cp(file, target, { recursive: true })
      else await rename(file, target)
      this.quarantined.push({ file, kept: target, problem: why })
      this.#logger.error(`outbox segment ${file}: ${why}; ${how === 'copy' ? 'a copy is' : 'it is'} kept in ${target}`)
    } catch (err) {
      this.quarantined.push({ file, kept: null, problem: why })
      this.#logger.error(`outbox segment ${file}: ${why}; it could not be set aside (${(err as Error).message}) and is left where it is`)
    }
  }

  /** Readings waiting for delivery. */
  get buffered(): number {
    return this.#buffered
  }

  /** When the oldest undelivered chunk was stored (Unix ms). */
  get oldest(): number | undefined {
    return this.#queue[this.#head]?.created
  }

  /** Bytes of the undelivered readings (their share of the chunks they are stored in). */
  get undeliveredBytes(): number {
    let total = 0
    for (let q = this.#head; q < this.#queue.length; q++) {
      const c = this.#queue[q] as Chunk
      if (c.remaining > 0 && c.total > 0) total += Math.round((c.bytes * c.remaining) / c.total)
    }
    return total
  }

  /** Bytes of the segment files on disk. */
  async bytes(): Promise<number> {
    let total = 0
    for (const seg of this.#segments) total += await stat(seg.file).then((s) => s.size, () => 0)
    return total
  }

  /**
   * Stores readings durably (one chunk document per up to 10,000 readings),
   * then applies the per-stream cap. Throws on a write error; the caller keeps
   * the readings and tries again later.
   */
  async append(entries: OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return
    const chunks: OutboxEntry[][] = [[]]
    let size = 0
    for (const e of entries) {
      for (let from = 0; from < e.r.length; ) {
        if (size === this.#chunkReadings) {
          chunks.push([])
          size = 0
        }
        const take = Math.min(e.r.length - from, this.#chunkReadings - size)
        ;(chunks[chunks.length - 1] as OutboxEntry[]).push({ p: e.p, u: e.u, r: from === 0 && take === e.r.length ? e.r : e.r.slice(from, from + take) })
        size += take
        from += take
      }
    }
    const now = Date.now()
    // each chunk's readings as one JSON string, one chunk per turn of the event loop: NeDB then checks,
    // copies and serializes a string, not every value (it did that with a replacer, value by value)
    const docs: Array<SegmentDoc & { t: number; j: string }> = []
    for (const e of chunks) {
      if (docs.length > 0) await yieldToLoop()
      docs.push({ _id: `c${this.#nextSeq}`, s: this.#nextSeq++, t: now, j: JSON.stringify(e) })
    }
    const seg = await this.#activeSegment()
    try {
      await seg.ds.insert(docs)
      if (this.#fsync) await seg.ds.fsync()
    } catch (err) {
      // the file may now end with a torn line: never append to it again
      seg.sealed = true
      seg.damaged = true
      this.#active = undefined
      this.writeError = `${(err as Error).message} (writing ${seg.file})`
      if (seg.live === 0) await this.#deleteSegment(seg).catch(() => {})
      throw err
    }
    this.writeError = undefined
    const touched = new Set<string>()
    for (const [k, d] of docs.entries()) {
      const e = chunks[k] as OutboxEntry[]
      const chunk = new Chunk(d.s, d.t, e, e.map(() => 0), seg, d.j.length)
      seg.live++
      seg.readings += chunk.remaining
      seg.written += chunk.total
      seg.bytes += d.j.length
      this.#queue.push(chunk)
      this.#count(chunk, 1)
      for (const x of e) touched.add(x.p)
    }
    if (seg.written >= this.#segmentReadings || seg.bytes >= this.#segmentBytes) await this.#seal(seg)
    this.#enforceCap(touched)
  }

  /** No more appends to `seg`; once all its readings are gone its file is deleted (now, if they are). */
  async #seal(seg: Segment): Promise<void> {
    seg.sealed = true
    if (this.#active === seg) this.#active = undefined
    if (seg.live === 0) await this.#deleteSegment(seg)
  }

  async #activeSegment(): Promise<Segment> {
    if (this.#active && !this.#active.sealed && Date.now() - this.#active.created >= this.#segmentAgeMs) await this.#seal(this.#active)
    if (this.#active && !this.#active.sealed) return this.#active
    const n = this.#nextSegment++
    const file = join(this.dir, `seg-${String(n).padStart(8, '0')}.db`)
    const ds = await Store.open<SegmentDoc>(file)
    const seg: Segment = { n, file, ds, live: 0, readings: 0, written: 0, bytes: 0, created: Date.now(), sealed: false, damaged: false }
    this.#segments.push(seg)
    this.#active = seg
    return seg
  }

  #count(chunk: Chunk, sign: 1 | -1): void {
    chunk.entries.forEach((e, i) => {
      const n = e.r.length - (chunk.off[i] ?? 0)
      if (n === 0) return
      this.#buffered += sign * n
      const v = (this.perStream.get(e.p) ?? 0) + sign * n
      if (v === 0) this.perStream.delete(e.p)
      else this.perStream.set(e.p, v)
    })
  }

  // Over the cap by more than a tenth, a stream loses its oldest readings down
  // to the cap (the slack keeps trims, and their offset writes, infrequent).
  #enforceCap(paths: Set<string>, strict = false): void {
    const cap = this.maxPerStream
    const slack = strict ? 0 : Math.max(1, Math.floor(cap / 10))
    const changed = new Set<Chunk>()
    for (const p of paths) {
      let excess = (this.perStream.get(p) ?? 0) - cap
      if (excess <= slack) continue
      for (let q = this.#head; q < this.#queue.length && excess > 0; q++) {
        const chunk = this.#queue[q] as Chunk
        if (chunk.inflight || chunk.remaining === 0) continue
        chunk.entries.forEach((e, i) => {
          if (excess <= 0 || e.p !== p) return
          const off = chunk.off[i] ?? 0
          const n = Math.min(excess, e.r.length - off)
          if (n <= 0) return
          chunk.off[i] = off + n
          chunk.remaining -= n
          chunk.seg.readings -= n
          excess -= n
          this.#buffered -= n
          this.perStream.set(p, (this.perStream.get(p) ?? 0) - n)
          this.dropped.set(p, (this.dropped.get(p) ?? 0) + n)
          this.droppedTotal += n
          changed.add(chunk)
        })
      }
    }
    for (const chunk of changed) void this.#persistProgress(chunk)
  }

  /** Up to `max` readings from the head, in order, on loan until acknowledged or released; `prefix` starts the batch id. */
  take(max: number, prefix: string): OutboxLease {
    const out: Slice[] = []
    let n = 0
    for (let q = this.#head; q < this.#queue.length && n < max; q++) {
      const chunk = this.#queue[q] as Chunk
      if (chunk.remaining === 0) continue
      for (let i = 0; i < chunk.entries.length && n < max; i++) {
        const from = chunk.off[i] ?? 0
        const len = (chunk.entries[i] as OutboxEntry).r.length
        if (from >= len) continue
        const to = Math.min(len, from + (max - n))
        out.push({ chunk, i, from, to })
        n += to - from
      }
      chunk.inflight = true
    }
    return new OutboxLease(this, out, leaseId(prefix, out, Date.now()))
  }

  /** @internal `lease.release()`: in-flight chunks may be trimmed by the cap again. */
  release(slices: readonly Slice[]): void {
    for (const s of slices) s.chunk.inflight = false
  }

  /**
   * @internal `lease.ack()`: removes delivered (or dead-lettered) readings and
   * returns how many it removed (a reading the cap dropped meanwhile is not
   * counted twice); their removal from disk follows, `settled()` awaits it.
   * Chunks stay in flight until `release`.
   */
  consume(slices: readonly Slice[]): number {
    const touched = new Set<Chunk>()
    let removed = 0
    for (const s of slices) {
      const off = s.chunk.off[s.i] ?? 0
      const n = Math.max(0, s.to - off)
      if (n > 0) {
        s.chunk.off[s.i] = s.to
        s.chunk.remaining -= n
        s.chunk.seg.readings -= n
        this.#buffered -= n
        removed += n
        const p = (s.chunk.entries[s.i] as OutboxEntry).p
        const v = (this.perStream.get(p) ?? 0) - n
        if (v <= 0) this.perStream.delete(p)
        else this.perStream.set(p, v)
      }
      touched.add(s.chunk)
    }
    this.#progress = this.#progress.then(async () => {
      for (const chunk of touched) await this.#persistProgress(chunk)
    })
    while (this.#head < this.#queue.length && (this.#queue[this.#head] as Chunk).remaining === 0) this.#head++
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head)
      this.#head = 0
    }
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
        if (seg.live === 0 && seg.sealed) await this.#deleteSegment(seg)
        else if (!seg.damaged) await this.#removeDocs(chunk)
      } else if (!seg.damaged) {
        await seg.ds.put({ _id: `o${chunk.seq}`, s: chunk.seq, o: chunk.off })
      }
      if (this.#fsync && !seg.damaged) await seg.ds.fsync().catch(() => {})
    } catch (err) {
      // not recorded: the readings may be delivered again after a restart, never lost
      this.#logger.warn(`could not record delivery progress in ${seg.file}: ${(err as Error).message}`)
    }
  }

  async #removeDocs(chunk: Chunk): Promise<void> {
    await chunk.seg.ds.delete(`c${chunk.seq}`, `o${chunk.seq}`)
  }

  async #deleteSegment(seg: Segment): Promise<void> {
    const i = this.#segments.indexOf(seg)
    if (i !== -1) this.#segments.splice(i, 1)
    if (this.#active === seg) this.#active = undefined
    await seg.ds.removeFile()
  }

  /** Chunks not yet fully delivered. */
  get chunks(): number {
    return this.#queue.length - this.#head
  }

  /** Removes everything, files included (a deleted subscription). */
  async destroy(): Promise<void> {
    for (const seg of [...this.#segments]) await this.#deleteSegment(seg)
    this.#queue.length = 0
    this.#head = 0
    this.#buffered = 0
    this.perStream.clear()
  }
}

/**
 * Lines of a segment file that cannot be documents: NeDB skips them without a
 * word. A torn last line (a write cut short by a crash, so no newline after it)
 * is expected and not counted.
 */
async function damagedLines(file: string): Promise<number> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return 0 // not a readable file: opening it says why
  }
  const lines = text.split('\n')
  // every line NeDB writes ends with a newline; one without it is the torn last one
  const end = text.endsWith('\n') ? lines.length : lines.length - 1
  let damaged = 0
  for (let i = 0; i < end; i++) {
    const line = lines[i] as string
    if (line === '') continue
    if (line.charCodeAt(0) !== 123 || line.charCodeAt(line.length - 1) !== 125 || line.includes('\u0000')) damaged++
  }
  return damaged
}
