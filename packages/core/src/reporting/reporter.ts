import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { ReadingValue } from '@smap/sdk'
import { smapError } from '../errors.js'
import type { BrokerSettings } from '../credentials.js'
import type { Logger } from '../logger.js'
import type { Timeseries } from '../tree/timeseries.js'
import type { TreeView } from '../tree/tree.js'
import type { Dispatcher } from 'undici'
import bytes from 'bytes'
import { Channel, type ChannelOptions, type ChannelStatus } from './channel.js'
import type { Outbox } from './outbox.js'
import { createDeliveryAgent } from './transports/connect-guard.js'
import { SubscriptionStore } from './subscription-store.js'
import { covers, type LocationPolicy, type ReportConfig, type ReportOrigin, type Subscription } from './subscription.js'

/** How often the reporter retries held readings, expires subscriptions and applies the byte cap, ms. */
const TICK_MS = 100

/** How the reporter works; resolved from `[server]` before it is made. */
export interface ReporterOptions {
  dataDir: string
  /** The least time between two writes to one outbox, ms (default 10): a reading that finds its outbox idle is written at the next turn of the event loop. */
  flushMs?: number
  fsync?: boolean
  /** Timeout of one POST, ms (default 30 s). */
  timeoutMs?: number
  /** Retry backoff: first delay and cap, ms (defaults 500 ms and 60 s). */
  backoffMs?: number
  maxBackoffMs?: number
  /** The most bytes of undelivered readings all outboxes may hold; beyond it the oldest go. */
  maxOutboxBytes?: number
  /** Where saved subscriptions may deliver (checked again when they are restored). */
  policy?: LocationPolicy
  /** Logins for mqtt:// locations. */
  brokers?: BrokerSettings[]
  logger: Logger
}

/** A subscription's line in `/status`. */
export interface ReportStatus {
  ReportResource: string
  origin: string
  delivery: ReportConfig['Delivery']
  channels: ChannelStatus[]
}

interface Entry extends Subscription {
  channels: Channel[]
}

/** Every subscription of a source: where each reading goes, the outboxes, delivery, persistence and status. */
export class Reporter {
  readonly #tree: TreeView
  readonly #options: ReporterOptions
  readonly #subs = new Map<string, Entry>()
  readonly #store: SubscriptionStore
  // per stream (by its _seq): the channels its readings go to; emptied when subscriptions change
  #routes: Array<Channel[] | undefined> = []
  #unsubscribe: (() => void) | undefined
  #started = false
  #agent: Dispatcher | undefined
  readonly #channelOptions: ChannelOptions
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  /** When false, readings stay in memory until `flush()` (an import writes a whole chunk at once). */
  autoFlush = true

  constructor(tree: TreeView, options: ReporterOptions) {
    this.#tree = tree
    this.#options = options
    this.#store = new SubscriptionStore(options.dataDir)
    this.#channelOptions = {
      ...options,
      writeGapMs: options.flushMs ?? 10,
      autoWrite: () => this.autoFlush,
      afterWrite: () => this.#capBytes(),
      dispatcher: () => (this.#agent ??= createDeliveryAgent({ allowLinkLocal: options.policy?.allowLinkLocal })),
    }
  }

  /** Where outboxes and subscriptions are kept. */
  get dataDir(): string {
    return this.#options.dataDir
  }

  /** Subscriptions by uuid. */
  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.#subs
  }

  /** Whether there is anything to start: a subscription, or some an earlier run saved. */
  get hasWork(): boolean {
    return this.#subs.size > 0 || this.#store.exists
  }

  /** The hot path: every reading of every stream passes here. */
  readonly #onReading = (ts: Timeseries, time: number, value: ReadingValue): void => {
    let targets = this.#routes[ts._seq]
    if (targets === undefined) {
      targets = []
      for (const sub of this.#subs.values()) if (covers(sub.config.ReportResource, ts.path)) targets.push(...sub.channels)
      this.#routes[ts._seq] = targets
    }
    for (let i = 0; i < targets.length; i++) (targets[i] as Channel).push(ts, time, value)
  }

  #rerouteAll(): void {
    this.#routes = []
    if (this.#subs.size > 0) this.#unsubscribe ??= this.#tree.onReading(this.#onReading)
    else {
      this.#unsubscribe?.()
      this.#unsubscribe = undefined
    }
  }

  /** Adds (or replaces) a subscription; opened at once if reporting has started. */
  async add(config: ReportConfig, origin: ReportOrigin, where?: string, name?: string): Promise<Subscription> {
    return this.#add(config, origin, where, name, origin === 'http')
  }

  async #add(config: ReportConfig, origin: ReportOrigin, where: string | undefined, name: string | undefined, persist: boolean): Promise<Subscription> {
    // one made over HTTP is on disk before it is live, so an acknowledged one survives a restart
    if (persist) {
      try {
        await this.#store.put(config)
      } catch (err) {
        throw smapError('SMAP_REPORT_WRITE', `cannot save subscription ${config.uuid} in ${this.#store.file}: ${(err as Error).message}; it was not made, try again`, { cause: err })
      }
    }
    const previous = this.#subs.get(config.uuid)
    const dir = join(this.#options.dataDir, 'reports', config.uuid)
    const groups = config.Delivery === 'fanout' ? config.ReportDeliveryLocation.map((l) => [l]) : [config.ReportDeliveryLocation]
    const entry: Entry = { config, origin, where, name, channels: [] }
    entry.channels = groups.map((locations, i) => new Channel(this.#tree, () => entry.config, join(dir, String(i)), locations, this.#channelOptions))
    // new readings go to the new channels from now on (held in memory until they open) ...
    this.#subs.set(config.uuid, entry)
    this.#rerouteAll()
    // ... while the old ones write what they hold and close, before the new ones open the same files
    if (previous) await this.#closeChannels(previous, config)
    if (this.#started) for (const ch of entry.channels) await ch.open()
    return entry
  }

  /** Removes a subscription and its undelivered data. */
  async remove(uuid: string): Promise<boolean> {
    const sub = this.#subs.get(uuid)
    if (!sub) return false
    this.#subs.delete(uuid)
    this.#rerouteAll()
    for (const ch of sub.channels) await ch.destroy()
    await rm(join(this.#options.dataDir, 'reports', uuid), { recursive: true, force: true })
    if (sub.origin === 'http') await this.#store.delete(uuid)
    return true
  }

  async #closeChannels(previous: Entry, next: ReportConfig): Promise<void> {
    const keep = next.Delivery === 'fanout' ? next.ReportDeliveryLocation.length : 1
    for (const [i, ch] of previous.channels.entries()) {
      if (i < keep) await ch.stop()
      else await ch.destroy()
    }
  }

  /** Opens every outbox (loading what a previous run left), restores subscriptions made over HTTP, and starts delivery. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    const saved = await this.#store.all(this.#options.policy ?? {})
    for (const problem of saved.refused) this.#options.logger.error(problem)
    for (const config of saved.configs) if (!this.#subs.has(config.uuid)) await this.#add(config, 'http', undefined, undefined, false)
    for (const sub of [...this.#subs.values()]) for (const ch of sub.channels) await ch.open()
    const tick = (): void => {
      this.#timer = setTimeout(() => {
        void this.#tick().finally(() => {
          if (this.#started) tick()
        })
      }, TICK_MS)
    }
    tick()
  }

  // Readings are written as they come (Channel.push); the tick catches what waits for a write to be tried again, expiry and the byte cap.
  async #tick(): Promise<void> {
    if (this.autoFlush) for (const sub of [...this.#subs.values()]) for (const ch of sub.channels) await ch.tick()
    this.#capBytes()
    const now = Date.now()
    for (const sub of [...this.#subs.values()]) {
      if (sub.config.ExpireTime !== undefined && now >= sub.config.ExpireTime) {
        this.#options.logger.info(`report ${sub.config.uuid} expired; removing it`)
        await this.remove(sub.config.uuid)
      }
    }
  }

  #overflow = { dropped: 0, loggedAt: 0 }

  /** Over `maxOutboxBytes`, the oldest readings of all outboxes go first, counted as dropped; said at most once a minute. */
  #capBytes(): void {
    const cap = this.#options.maxOutboxBytes
    if (cap === undefined) return
    const boxes = [...this.#subs.values()].flatMap((s) => s.channels.map((c) => ({ uuid: s.config.uuid, box: c.outbox }))).filter((b) => b.box !== undefined)
    let total = 0
    const sizes = boxes.map((b) => (b.box as Outbox).undeliveredBytes)
    for (const n of sizes) total += n
    let dropped = 0
    const onLoan = new Set<number>()
    while (total > cap) {
      // the outbox holding the oldest reading gives up its oldest chunk
      let k = -1
      for (let i = 0; i < boxes.length; i++) {
        const t = (boxes[i]?.box as Outbox).oldest
        if (t !== undefined && !onLoan.has(i) && (sizes[i] as number) > 0 && (k === -1 || t < ((boxes[k]?.box as Outbox).oldest as number))) k = i
      }
      if (k === -1) break
      const box = (boxes[k] as { box: Outbox }).box
      const freed = box.dropOldest()
      if (freed.readings === 0) {
        onLoan.add(k) // what it holds is on loan to a delivery: the next oldest outbox gives instead
        continue
      }
      dropped += freed.readings
      total -= freed.bytes
      sizes[k] = (sizes[k] as number) - freed.bytes
    }
    if (dropped === 0) return
    this.#overflow.dropped += dropped
    const now = Date.now()
    if (now - this.#overflow.loggedAt >= 60_000) {
      this.#options.logger.warn(
        `the outboxes hold more than MaxOutboxBytes (${bytes.format(cap)}) of undelivered readings: the oldest are dropped, ${this.#overflow.dropped} so far; they are counted in each report's dropped figures in /status`,
      )
      this.#overflow.loggedAt = now
      this.#overflow.dropped = 0
    }
  }

  /** Writes every pending reading to its outbox now. */
  async flush(): Promise<void> {
    const run = async (): Promise<void> => {
      for (const sub of this.#subs.values()) for (const ch of sub.channels) await ch.flush()
      // what was just written counts against the cap at once, whoever asked for the flush
      this.#capBytes()
    }
    this.#flushing = (this.#flushing ?? Promise.resolve()).then(run, run)
    await this.#flushing
  }

  /** Flushes, stops delivery (an in-flight POST is abandoned: it is sent again next time), closes stores. */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    if (this.#timer) clearTimeout(this.#timer)
    for (const sub of this.#subs.values()) for (const ch of sub.channels) await ch.stop()
    const agent = this.#agent
    this.#agent = undefined
    await agent?.close()
  }

  /** Forgets readings not yet written to an outbox (a failed import chunk). */
  discardPending(): void {
    for (const sub of this.#subs.values()) for (const ch of sub.channels) ch.discardPending()
  }

  /**
   * Readings not yet acknowledged by every subscriber (in outboxes or in
   * memory), dead letters, readings dropped by the per-stream cap, and how full
   * the fullest stream buffer is (0..1 of its MaxBuffer).
   */
  undelivered(): { backlog: number; deadLetters: number; dropped: number; fullest: number } {
    let backlog = 0
    let deadLetters = 0
    let dropped = 0
    let fullest = 0
    for (const sub of this.#subs.values()) {
      for (const ch of sub.channels) {
        backlog += (ch.outbox?.buffered ?? 0) + ch.pendingCount
        deadLetters += ch.deadLettered
        dropped += (ch.outbox?.droppedTotal ?? 0) + ch.droppedPending
        fullest = Math.max(fullest, (ch.outbox?.mostBuffered ?? 0) / sub.config.MaxBuffer)
      }
    }
    return { backlog, deadLetters, dropped, fullest }
  }

  /** Moves a subscription's dead letters back into its outboxes; resolves with how many readings. */
  async replay(uuid: string): Promise<number> {
    const sub = this.#subs.get(uuid)
    if (!sub) return 0
    let n = 0
    for (const ch of sub.channels) n += await ch.replay()
    return n
  }

  /**
   * Every subscription's line in `/status`. What needs I/O (the files' sizes)
   * is read first, then everything else in one tick by `snapshot`, so the
   * figures of all channels (and what the caller adds then) are of one moment.
   */
  async status(): Promise<() => Record<string, ReportStatus>> {
    const channels = [...this.#subs.values()].flatMap((s) => s.channels)
    const sizes = new Map(await Promise.all(channels.map(async (c) => [c, await c.diskBytes()] as const)))
    return () => {
      const out: Record<string, ReportStatus> = {}
      for (const [uuid, sub] of this.#subs) {
        out[uuid] = {
          ReportResource: sub.config.ReportResource,
          origin: sub.where ?? sub.origin,
          delivery: sub.config.Delivery,
          channels: sub.channels.map((c) => c.status(sizes.get(c) ?? 0)),
        }
      }
      return out
    }
  }
}
