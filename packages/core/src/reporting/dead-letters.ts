import { join } from 'node:path'
import { smapError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { OutboxEntry } from './chunk.js'
import type { OutboxLease } from './lease.js'
import { Store } from './store.js'

interface DeadLetterDoc {
  _id: string
  /** when it was set aside, Unix ms */
  t: number
  batchId: string
  /** why the receiver refused it */
  error: string
  /** readings */
  n: number
  e: OutboxEntry[]
}

/** Dead-lettered batches kept per delivery channel; beyond it the oldest go (and count as dropped). */
const MAX_DEAD_LETTERS = 100

/** Batches a receiver refused for good, kept beside a channel's outbox until replayed. */
export class DeadLetters {
  readonly #store: Store<DeadLetterDoc>
  readonly #logger: Logger
  readonly #label: string
  #count: number

  private constructor(store: Store<DeadLetterDoc>, count: number, logger: Logger, label: string) {
    this.#store = store
    this.#count = count
    this.#logger = logger
    this.#label = label
  }

  /** Opens `deadletters.db` in `dir`; `label` (`report UUID`) starts its log lines. */
  static async open(dir: string, logger: Logger, label: string): Promise<DeadLetters> {
    const store = await Store.open<DeadLetterDoc>(join(dir, 'deadletters.db'))
    return new DeadLetters(store, await store.count(), logger, label)
  }

  /** Batches kept. */
  get count(): number {
    return this.#count
  }

  /** Sets a refused batch aside; resolves with the readings of older batches evicted to stay within the limit. Throws if it cannot be stored. */
  async add(lease: OutboxLease, error: string): Promise<number> {
    const now = Date.now()
    await this.#store.insert({ _id: `d${now}-${Math.random().toString(36).slice(2, 10)}`, t: now, batchId: lease.id, error, n: lease.count, e: lease.entries() })
    this.#count++
    let evicted = 0
    if (this.#count > MAX_DEAD_LETTERS) {
      for (const d of await this.#store.sorted('t', this.#count - MAX_DEAD_LETTERS)) {
        await this.#store.delete(d._id)
        this.#count--
        evicted += d.n
      }
      await this.#compact()
    }
    return evicted
  }

  /**
   * Hands every batch, oldest first, to `append` (the outbox) and forgets it;
   * `moved` hears each batch's readings as it goes. Resolves with the readings
   * moved; a failed append stops with SMAP_REPORT_WRITE saying how far it got.
   */
  async replay(append: (entries: OutboxEntry[]) => Promise<void>, moved: (readings: number) => void): Promise<number> {
    let n = 0
    for (const d of await this.#store.sorted('t')) {
      try {
        await append(d.e)
      } catch (err) {
        throw smapError('SMAP_REPORT_WRITE', `cannot move dead letters back into the outbox in ${this.#dir}: ${(err as Error).message}; ${n} readings were replayed, try again when the disk has room`, { cause: err })
      }
      await this.#store.delete(d._id)
      this.#count--
      moved(d.n)
      n += d.n
    }
    await this.#compact()
    return n
  }

  get #dir(): string {
    return this.#store.filename.slice(0, -'/deadletters.db'.length)
  }

  // Removals are appended lines; without this a long-lived store would only
  // shrink at the next start. Our own compaction, so a failure is logged, not
  // an unhandled rejection (as NeDB's autocompaction's is).
  async #compact(): Promise<void> {
    const err = await this.#store.compact()
    if (err) this.#logger.warn(`${this.#label}: could not compact ${this.#store.filename} (${err.message}); it is tried again after the next removal`)
  }
}
