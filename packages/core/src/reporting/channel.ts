import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { rm } from 'node:fs/promises'
import type { ReadingValue } from '@smap/sdk'
import type { Timeseries } from '../tree/timeseries.js'
import type { TreeView } from '../tree/tree.js'
import { backoffDelay } from './backoff.js'
import type { OutboxEntry } from './chunk.js'
import { DeadLetters } from './dead-letters.js'
import type { OutboxLease } from './lease.js'
import { lendFromMemory } from './memory-lease.js'
import { Outbox } from './outbox.js'
import { PayloadBuilder } from './payload.js'
import { PendingReadings } from './pending.js'
import type { ReportConfig } from './subscription.js'
import { WriteTimer } from './write-timer.js'
import { COMPRESSION, postReport } from './transports/http.js'
import { isMqttLocation, MqttLinks } from './transports/mqtt.js'
import type { ChannelOptions, ChannelStatus } from './channel-types.js'

export type { ChannelOptions, ChannelStatus } from './channel-types.js'

/** 5xx answers to one batch, from a receiver that takes an empty report, before it is split to find what it refuses. */
const POISON_ATTEMPTS = 3

/** Readings written at a time while the outbox recovers from a failed write (a full disk). */
const RECOVERY_PIECE = 1000

/** The most readings one POST carries. */
export const MAX_READINGS_PER_POST = 10_000

/** One outbox and the delivery loop that drains it to a list of locations (tried in turn). */
export class Channel {
  readonly dir: string
  readonly locations: string[]
  readonly #config: () => ReportConfig
  readonly #options: ChannelOptions
  readonly #payloads: PayloadBuilder
  outbox: Outbox | undefined
  #deadLetters: DeadLetters | undefined
  readonly #pending = new PendingReadings()
  // readings on their way into the outbox: no longer pending, not yet in it
  #appending = 0
  // readings lent straight from memory to a delivery while the outbox cannot be written
  #lent = 0
  #lends = 0
  #memoryRetryAt = 0
  #writing: Promise<void> = Promise.resolve()
  #writeRetryAt = 0
  #recovering = false
  #location = 0
  #running = false
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined
  #abort = new AbortController()
  #needFull = true
  #lastDelivery = Date.now()
  #state: ChannelStatus['state'] = 'idle'
  #added = 0
  #delivered = 0
  droppedPending = 0
  deadLettered = 0
  #lastSuccess: number | undefined
  #lastError: { message: string; time: number } | undefined
  readonly #links: MqttLinks // a broker connection per mqtt:// location, kept while the channel runs
  readonly #writes: WriteTimer

  constructor(tree: TreeView, config: () => ReportConfig, dir: string, locations: string[], options: ChannelOptions) {
    this.#payloads = new PayloadBuilder(tree)
    this.#links = new MqttLinks(tree.root, () => this.#uuid, options.timeoutMs ?? 30_000, options.brokers)
    this.#config = config
    this.dir = dir
    this.locations = locations
    this.#options = options
    this.#writes = new WriteTimer(options.writeGapMs ?? 10, () => void this.#writeDue())
  }

  get #uuid(): string {
    return this.#config().uuid
  }

  /** Readings not yet in the outbox: held in memory, or being written. */
  get pendingCount(): number {
    return this.#pending.count + this.#appending + this.#lent
  }

  /** Holds a reading in memory until it is written to the outbox, soon. */
  push(ts: Timeseries, time: number, value: ReadingValue): void {
    this.#pending.push(ts, time, value)
    this.#added++
    if (this.#running) this.#writes.due()
  }

  /** The write a reading asked for; what arrived meanwhile asks for the next (not while a failed write waits to be tried again: the reporter's tick does). */
  async #writeDue(): Promise<void> {
    if (this.#options.autoWrite?.() === false) return
    await this.flush()
    if (this.#running && !this.#pending.empty && !this.#recovering && this.#lent === 0) this.#writes.due()
  }

  /** Forgets readings not yet written to the outbox (a failed import chunk). */
  discardPending(): void {
    this.#added -= this.#pending.count
    this.#pending.clear()
  }

  #opened: Promise<void> | undefined

  /** Opens the outbox and dead letters and starts delivery; asked twice (a start and a new subscription at once), it opens once. */
  open(): Promise<void> {
    this.#opened ??= this.#open()
    return this.#opened
  }

  async #open(): Promise<void> {
    this.outbox = await Outbox.open(join(this.dir, 'outbox'), { maxPerStream: this.#config().MaxBuffer, fsync: this.#options.fsync, logger: this.#options.logger })
    this.#deadLetters = await DeadLetters.open(this.dir, this.#options.logger, `report ${this.#uuid}`)
    this.#running = true
    this.#loop = this.#run()
    if (!this.#pending.empty) this.#writes.due() // what came while it opened
  }

  /** The reporter's tick: what a failed write holds is tried again; anything else held gets its write (in FlushInterval, if one was just made). */
  async tick(): Promise<void> {
    if (this.#recovering || this.#lent > 0) await this.flush()
    else if (this.#running && !this.#pending.empty) this.#writes.due()
  }

  /** Writes pending readings to the outbox (one chunk write per flush). */
  flush(): Promise<void> {
    this.#writing = this.#writing.then(() => this.#flushNow())
    return this.#writing
  }

  async #flushNow(): Promise<void> {
    // while readings are lent from memory, newer ones wait, so that a stream's readings stay in order
    if (!this.outbox || this.#pending.empty || this.#lent > 0) return
    this.#writes.started()
    if (this.#recovering && Date.now() < this.#writeRetryAt) {
      this.droppedPending += this.#pending.cap(this.#config().MaxBuffer)
      this.#wake?.() // they may go straight from memory
      return
    }
    // after a failed write, what is held goes in small pieces, so it fits as space returns
    while (!this.#pending.empty) {
      const ok = await this.#write(this.#recovering ? RECOVERY_PIECE : Number.POSITIVE_INFINITY)
      if (!ok || !this.#recovering) return
    }
    this.#recovering = false
  }

  /** Writes up to `max` pending readings (oldest first per stream) to the outbox; false if the write failed. */
  async #write(max: number): Promise<boolean> {
    const outbox = this.outbox as Outbox
    const batch = this.#pending.take(max)
    let count = 0
    const entries: OutboxEntry[] = []
    for (const [ts, r] of batch) {
      entries.push({ p: ts.path, u: ts.uuid, r })
      count += r.length
    }
    this.#appending = count
    try {
      await outbox.append(entries)
      this.#appending = 0
      this.#options.afterWrite?.()
      this.#wake?.()
      return true
    } catch (err) {
      this.#appending = 0
      // keep them in memory (bounded by the cap), ahead of what came since, and try again in a while
      this.#writeRetryAt = Date.now() + 5000
      this.#pending.putBack(batch, count)
      this.droppedPending += this.#pending.cap(this.#config().MaxBuffer)
      if (!this.#recovering) {
        this.#options.logger.error(`report ${this.#uuid}: cannot write its outbox in ${this.dir}; readings are held in memory (up to MaxBuffer a stream), delivered from there, and written again in pieces every 5 s`, err)
      }
      this.#recovering = true
      this.#wake?.()
      return false
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const keepalive = await this.#waitForWork()
      if (!this.#running) break
      const outbox = this.outbox as Outbox
      if (this.#needFull) {
        const resource = this.#config().ReportResource
        if (this.#payloads.anyCovered(resource)) await this.#send(undefined, `${this.#uuid}:meta:${Date.now()}`)
        else this.#needFull = false // nothing to describe yet: streams are described with their first readings
        continue
      }
      if (this.#fromMemory()) {
        await this.#sendFromMemory()
        continue
      }
      const lease = await outbox.take(MAX_READINGS_PER_POST, this.#uuid)
      if (lease.count === 0 && !keepalive) {
        lease.release()
        continue
      }
      try {
        await this.#send(lease, lease.id)
      } finally {
        lease.release()
      }
    }
    this.#state = 'stopped'
  }

  /** Whether to deliver straight from memory: the last outbox write failed, and the outbox holds nothing to send before what memory holds. */
  #fromMemory(): boolean {
    // the outbox comes first: once it is time to try writing again, the next flush does
    return this.#recovering && Date.now() < this.#writeRetryAt && this.#pending.count > 0 && this.#lent === 0 && (this.outbox?.buffered ?? 0) === 0
  }

  /** One try to deliver what memory holds; what is not acknowledged goes back, and is tried again in 5 s. */
  async #sendFromMemory(): Promise<void> {
    const batch = this.#pending.take(MAX_READINGS_PER_POST)
    for (const r of batch.values()) this.#lent += r.length
    const lease = lendFromMemory(batch, `${this.#uuid}:memory:${Date.now()}.${this.#lends++}`, {
      removed: (n) => (this.#lent -= n),
      giveBack: (rest, count) => {
        this.#pending.putBack(rest, count)
        this.#lent -= count
        if (count > 0) this.#memoryRetryAt = Date.now() + 5000
      },
    })
    try {
      await this.#send(lease, lease.id, true)
    } finally {
      lease.release()
    }
  }

  /** Resolves when there is something to send; true when it is only the MaxPeriod keepalive. */
  async #waitForWork(): Promise<boolean> {
    for (;;) {
      if (!this.#running) return false
      const config = this.#config()
      const now = Date.now()
      const earliest = this.#lastDelivery + config.MinPeriod * 1000
      const fromMemory = this.#fromMemory()
      const hasWork = this.#needFull || (this.outbox?.buffered ?? 0) > 0 || (fromMemory && now >= this.#memoryRetryAt)
      const keepaliveAt = config.MaxPeriod === undefined ? Number.POSITIVE_INFINITY : this.#lastDelivery + config.MaxPeriod * 1000
      if (hasWork && now >= earliest) return false
      if (now >= keepaliveAt) return true
      this.#state = 'idle'
      const wakeAt = hasWork ? earliest : Math.min(keepaliveAt, fromMemory ? this.#memoryRetryAt : Number.POSITIVE_INFINITY)
      await this.#sleep(Math.min(wakeAt, now + 60_000) - now, true)
    }
  }

  #sleep(ms: number, wakeable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        if (this.#wake === done) this.#wake = undefined
        this.#abort.signal.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, Math.max(0, ms))
      if (wakeable) this.#wake = done
      this.#abort.signal.addEventListener('abort', done)
    })
  }

  /**
   * Sends one batch (no lease: the description of every stream) until it is
   * acknowledged, split, dead-lettered, or the channel stops (`once`: or it
   * fails once). True if every reading was acknowledged or set aside.
   */
  async #send(lease: OutboxLease | undefined, id: string, once = false, refusing = false): Promise<boolean> {
    const opts = this.#options
    const metaOnly = lease === undefined
    let failures = 0
    let answered5xx = 0
    while (this.#running) {
      const config = this.#config()
      const location = this.locations[this.#location] as string
      const payload = this.#payloads.build(lease, config.ReportResource, metaOnly, !isMqttLocation(location))
      this.#state = failures === 0 ? 'delivering' : 'retrying'
      const outcome = isMqttLocation(location) ? await this.#links.publish(location, payload.body, id, this.#abort.signal) : await this.#post(location, payload.json, config.Format, id)
      if (!this.#running && outcome.kind !== 'ok') return false
      if (outcome.kind === 'ok') {
        // counted in the same tick as the ack takes them off the backlog, so the books always balance
        if (lease && lease.count > 0) this.#delivered += lease.ack()
        await this.outbox?.settled()
        this.#payloads.acknowledged(payload)
        if (metaOnly) this.#needFull = false
        this.#lastSuccess = Date.now()
        this.#lastDelivery = this.#lastSuccess
        this.#state = 'idle'
        return true
      }
      this.#lastError = { message: outcome.error, time: Date.now() }
      if (outcome.kind === 'split' && lease && lease.count > 1) {
        const [a, b] = lease.split()
        // in order: the second half goes only once the first is done with
        return (await this.#send(a, a.id, once)) && (await this.#send(b, b.id, once))
      }
      if (outcome.kind === 'split' || outcome.kind === 'reject') {
        if (lease) return this.#deadLetter(lease, outcome.error)
        this.#needFull = false // the data batches carry the objects again
        return true
      }
      if (once) return false
      // a receiver that answers 5xx to this batch again and again (at once, in a half already refused), but
      // takes an empty report, refuses something in it: the halves go now, and a lone reading it refuses is set aside
      if (lease && (outcome.status ?? 0) >= 500 && ++answered5xx >= (refusing ? 1 : POISON_ATTEMPTS)) {
        answered5xx = 0
        if (await this.#takesOthers(location, config.Format)) {
          if (lease.count === 1) return this.#deadLetter(lease, `${outcome.error}, while it takes other reports`)
          if (!refusing) opts.logger.warn(`report ${this.#uuid}: ${location} refused batch ${lease.id} (${lease.count} readings) ${POISON_ATTEMPTS} times but takes other reports; splitting it to find what it refuses`)
          const [a, b] = lease.split()
          return (await this.#send(a, a.id, once, true)) && (await this.#send(b, b.id, once, true))
        }
      }
      // retry: the next location first; after a full round, back off
      failures++
      this.#location = (this.#location + 1) % this.locations.length
      if (failures % this.locations.length === 0) {
        const round = failures / this.locations.length
        const delay = Math.max(backoffDelay(round - 1, opts.backoffMs ?? 500, opts.maxBackoffMs ?? 60_000), outcome.retryAfterMs ?? 0)
        this.#state = 'retrying'
        await this.#sleep(Math.min(delay, 10 * 60_000), false)
      }
    }
    return false
  }

  /** One POST to `location`, in the subscription's format, ended by the channel's stop. */
  #post(location: string, json: string, format: ReportConfig['Format'], batchId: string): ReturnType<typeof postReport> {
    const o = this.#options
    return postReport(location, json, { compress: COMPRESSION[format], timeoutMs: o.timeoutMs ?? 30_000, batchId, signal: this.#abort.signal, dispatcher: o.dispatcher?.() })
  }

  /** Whether `location` acknowledges an empty report now (it is up, and it is the batch it refuses). */
  async #takesOthers(location: string, format: ReportConfig['Format']): Promise<boolean> {
    return (await this.#post(location, '{}', format, randomUUID())).kind === 'ok'
  }

  async #deadLetter(lease: OutboxLease, error: string): Promise<boolean> {
    const letters = this.#deadLetters as DeadLetters
    try {
      const evicted = await letters.add(lease, error)
      this.droppedPending += evicted
      this.deadLettered -= evicted
    } catch (err) {
      // could not set it aside: keep it in the outbox rather than lose it
      this.#options.logger.error(`report ${this.#uuid}: cannot store a rejected batch in ${this.dir}/deadletters.db; it stays in the outbox`, err)
      await this.#sleep(5000, false)
      return false
    }
    this.deadLettered += lease.ack()
    await this.outbox?.settled()
    this.#options.logger.warn(`report ${this.#uuid}: batch ${lease.id} (${lease.count} readings) was rejected (${error}); it is kept as a dead letter, replay it with POST /reports/${this.#uuid}/replay`)
    return true
  }

  /** Moves dead letters back into the outbox; resolves with how many readings. */
  async replay(): Promise<number> {
    const letters = this.#deadLetters
    const outbox = this.outbox
    if (!letters || !outbox) return 0
    const n = await letters.replay(
      (entries) => outbox.append(entries),
      (moved) => (this.deadLettered -= moved),
    )
    this.#wake?.()
    return n
  }

  async stop(): Promise<void> {
    await this.flush()
    this.#running = false
    this.#writes.cancel()
    // a POST on the wire gets a moment to be acknowledged, so that a clean stop sends nothing twice
    if (this.#state === 'delivering') await Promise.race([this.#loop, new Promise((r) => setTimeout(r, 1000))])
    this.#abort.abort()
    this.#wake?.()
    await Promise.all([this.#loop, this.#links.close()])
    this.#abort = new AbortController()
    this.#writeRetryAt = 0 // a last try to write what is held, however recently a write failed
    await this.flush() // ... what a delivery from memory gave back included
    const held = this.#pending.count
    if (held > 0) {
      // never in silence: say how many, and count them as dropped
      this.#options.logger.error(
        `report ${this.#uuid}: ${held} readings could not be written to its outbox in ${this.dir} (${this.outbox?.writeError ?? 'not open'}) and are lost as it stops`,
      )
      this.droppedPending += held
      this.#pending.clear()
    }
  }

  async destroy(): Promise<void> {
    await this.stop()
    await rm(this.dir, { recursive: true, force: true })
  }

  /** Bytes of its outbox files: the one figure of its status that needs I/O, read before the others. */
  async diskBytes(): Promise<number> {
    return (await this.outbox?.bytes()) ?? 0
  }

  /** Its line in `/status`, read in one tick (given `diskBytes`), so its books always balance. */
  status(diskBytes: number): ChannelStatus {
    const box = this.outbox
    const oldest = box?.oldest
    return {
      locations: this.locations,
      currentLocation: this.locations[this.#location] as string,
      state: this.#state,
      backlogReadings: box?.buffered ?? 0,
      backlogBytes: box?.undeliveredBytes ?? 0,
      diskBytes,
      oldestUndeliveredAgeMs: oldest === undefined ? null : Date.now() - oldest,
      lastSuccess: this.#lastSuccess ?? null,
      lastError: this.#lastError ?? null,
      writeError: box?.writeError ?? null,
      added: this.#added,
      restored: box?.restored ?? 0,
      delivered: this.#delivered,
      dropped: { total: (box?.droppedTotal ?? 0) + this.droppedPending, perStream: Object.fromEntries(box?.dropped ?? []) },
      deadLettered: this.deadLettered,
      deadLetters: this.#deadLetters?.count ?? 0,
      pending: this.pendingCount,
      quarantined: box?.quarantined ?? [],
    }
  }
}
