import { existsSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { isIP } from 'node:net'
import { join } from 'node:path'
import { isWithin, normalizePath, parentPath, SmapError, type Reading, type ReadingValue, type Report } from '@smap/sdk'
import type { Collection } from './collection.js'
import { backoffDelay, postReport } from './delivery.js'
import type { SmapInstance } from './instance.js'
import type { Logger } from './logger.js'
import { Outbox, type OutboxEntry, type OutboxSlice } from './outbox.js'
import type { Timeseries } from './timeseries.js'
import { compactStore, openStore, type Store } from './_store.js'

/** A subscription, normalized. */
export interface ReportConfig {
  uuid: string
  ReportResource: string
  ReportDeliveryLocation: string[]
  MinPeriod: number
  MaxPeriod: number | undefined
  ExpireTime: number | undefined
  Format: 'json' | 'gzip-json'
  Delivery: 'failover' | 'fanout'
  MaxBuffer: number
}

/** Where delivery locations may point. */
export interface LocationPolicy {
  /** If set, only these host names (or addresses) are allowed. */
  allowedHosts?: string[]
  /** Allow link-local addresses (169.254.0.0/16, fe80::/10), where cloud metadata services live. */
  allowLinkLocal?: boolean
}

export interface ReporterOptions {
  dataDir: string
  /** How often added readings are written to the outboxes, ms (default 100). */
  flushMs?: number
  fsync?: boolean
  /** Timeout of one POST, ms (default 30 s). */
  timeoutMs?: number
  /** Retry backoff: first delay and cap, ms (defaults 500 ms and 60 s). */
  backoffMs?: number
  maxBackoffMs?: number
  /** Dead-lettered batches kept per subscription location (default 100). */
  maxDeadLetters?: number
  logger: Logger
}

export const MAX_READINGS_PER_POST = 10_000

/** Checks a delivery location: http(s), allowed host, no link-local address unless allowed. Returns the problem or undefined. */
export function checkLocation(location: string, policy: LocationPolicy = {}): string | undefined {
  let url: URL
  try {
    url = new URL(location)
  } catch {
    return `"${location}" is not a URL; expected one like http://archiver:8079/add`
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `"${location}" must be an http:// or https:// URL`
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  if (policy.allowedHosts && policy.allowedHosts.length > 0 && !policy.allowedHosts.some((h) => h.toLowerCase() === host)) {
    return `"${location}": host ${host} is not in ReportHosts (${policy.allowedHosts.join(', ')})`
  }
  if (!policy.allowLinkLocal && isLinkLocal(host)) {
    return `"${location}" points at a link-local address (where cloud metadata services answer); set AllowLinkLocal = true in [server] if you mean it`
  }
  return undefined
}

function isLinkLocal(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('169.254.')
  if (isIP(host) !== 6) return false
  if (/^fe[89ab][0-9a-f]:/i.test(host)) return true
  // an IPv4-mapped address, which URL writes in hex: [::ffff:169.254.169.254] becomes [::ffff:a9fe:a9fe]
  const dotted = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)
  if (dotted) return isLinkLocal(dotted[1] as string)
  const hex = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(host)
  return hex !== null && parseInt(hex[1] as string, 16) === 0xa9fe
}

/** Normalizes a subscription, throwing a SmapError that names the problem. */
export function normalizeReport(report: Report, uuid: string, policy: LocationPolicy): ReportConfig {
  const locations = typeof report.ReportDeliveryLocation === 'string' ? [report.ReportDeliveryLocation] : report.ReportDeliveryLocation
  for (const l of locations) {
    const problem = checkLocation(l, policy)
    if (problem) throw new SmapError('SMAP_REPORT_LOCATION', `ReportDeliveryLocation ${problem}`)
  }
  const plus = report.ReportResource.trim().endsWith('/+')
  const base = normalizePath(plus ? report.ReportResource.trim().slice(0, -2) : report.ReportResource)
  if (report.MaxPeriod !== undefined && report.MinPeriod !== undefined && report.MaxPeriod < report.MinPeriod) {
    throw new SmapError('SMAP_REPORT_INVALID', `MaxPeriod (${report.MaxPeriod} s) must not be less than MinPeriod (${report.MinPeriod} s)`)
  }
  return {
    uuid,
    ReportResource: plus ? (base === '/' ? '/+' : `${base}/+`) : base,
    ReportDeliveryLocation: locations,
    MinPeriod: report.MinPeriod ?? 0,
    MaxPeriod: report.MaxPeriod,
    ExpireTime: report.ExpireTime ?? undefined,
    Format: report.Format ?? 'json',
    Delivery: report.Delivery ?? 'failover',
    MaxBuffer: report.MaxBuffer ?? 10_000,
  }
}

/** The subscription as the wire shows it (DESIGN.md §3). */
export function reportObject(c: ReportConfig): Report {
  const out: Report = { uuid: c.uuid, ReportResource: c.ReportResource, ReportDeliveryLocation: c.ReportDeliveryLocation, MinPeriod: c.MinPeriod, Format: c.Format }
  if (c.MaxPeriod !== undefined) out.MaxPeriod = c.MaxPeriod
  if (c.ExpireTime !== undefined) out.ExpireTime = c.ExpireTime
  if (c.Delivery !== 'failover') out.Delivery = c.Delivery
  if (c.MaxBuffer !== 10_000) out.MaxBuffer = c.MaxBuffer
  return out
}

/** Whether a subscription's resource covers the stream at `path`. */
export function covers(resource: string, path: string): boolean {
  if (resource.endsWith('/+')) return isWithin(resource === '/+' ? '/' : resource.slice(0, -2), path)
  return path === resource || parentPath(path) === resource
}

/** A delivery channel's line in `/status`. */
export interface ChannelStatus {
  locations: string[]
  currentLocation: string
  state: 'idle' | 'delivering' | 'retrying' | 'stopped'
  backlogReadings: number
  backlogBytes: number
  oldestUndeliveredAgeMs: number | null
  lastSuccess: number | null
  lastError: { message: string; time: number } | null
  writeError: string | null
  added: number
  restored: number
  delivered: number
  dropped: { total: number; perStream: Record<string, number> }
  deadLettered: number
  deadLetters: number
  pending: number
}

/** One outbox and the delivery loop that drains it to a list of locations. */
class Channel {
  readonly dir: string
  readonly locations: string[]
  readonly #reporter: Reporter
  readonly #sub: Subscription
  outbox: Outbox | undefined
  #deadLetters: Store | undefined
  #deadLetterCount = 0
  pending = new Map<Timeseries, Reading[]>()
  pendingCount = 0
  #writing: Promise<void> = Promise.resolve()
  #writeRetryAt = 0
  #location = 0
  #running = false
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined
  #abort = new AbortController()
  #needFull = true
  readonly #sentMeta = new WeakMap<object, number>()
  #lastDelivery = Date.now()
  state: ChannelStatus['state'] = 'idle'
  added = 0
  delivered = 0
  droppedPending = 0
  deadLettered = 0
  lastSuccess: number | undefined
  lastError: { message: string; time: number } | undefined

  constructor(reporter: Reporter, sub: Subscription, dir: string, locations: string[]) {
    this.#reporter = reporter
    this.#sub = sub
    this.dir = dir
    this.locations = locations
  }

  get #config(): ReportConfig {
    return this.#sub.config
  }

  push(ts: Timeseries, time: number, value: ReadingValue): void {
    let arr = this.pending.get(ts)
    if (arr === undefined) this.pending.set(ts, (arr = []))
    arr.push([time, value])
    this.pendingCount++
    this.added++
  }

  discardPending(): void {
    this.added -= this.pendingCount
    this.pending = new Map()
    this.pendingCount = 0
  }

  async open(): Promise<void> {
    const opts = this.#reporter.options
    this.outbox = await Outbox.open(join(this.dir, 'outbox'), { maxPerStream: this.#config.MaxBuffer, fsync: opts.fsync, logger: opts.logger })
    this.#deadLetters = await openStore(join(this.dir, 'deadletters.db'))
    this.#deadLetterCount = await this.#deadLetters.count({})
    this.#running = true
    this.#loop = this.#run()
  }

  /** Writes pending readings to the outbox (one chunk write per flush). */
  flush(): Promise<void> {
    this.#writing = this.#writing.then(() => this.#flushNow())
    return this.#writing
  }

  async #flushNow(): Promise<void> {
    if (!this.outbox || this.pending.size === 0) return
    if (this.outbox.writeError !== undefined && Date.now() < this.#writeRetryAt) {
      this.#capPending()
      return
    }
    const batch = this.pending
    const count = this.pendingCount
    this.pending = new Map()
    this.pendingCount = 0
    const entries: OutboxEntry[] = []
    for (const [ts, r] of batch) entries.push({ p: ts.path, u: ts.uuid, r })
    try {
      await this.outbox.append(entries)
      this.#wake?.()
    } catch (err) {
      // keep them in memory (bounded by the cap) and try again in a while
      this.#writeRetryAt = Date.now() + 5000
      for (const [ts, r] of this.pending) {
        const before = batch.get(ts)
        batch.set(ts, before ? before.concat(r) : r)
      }
      this.pending = batch
      this.pendingCount += count
      this.#capPending()
      this.#reporter.options.logger.error(`report ${this.#config.uuid}: cannot write its outbox in ${this.dir}; readings are held in memory and the write is retried every 5 s`, err)
    }
  }

  #capPending(): void {
    const cap = this.#config.MaxBuffer
    for (const r of this.pending.values()) {
      if (r.length > cap) {
        const n = r.length - cap
        r.splice(0, n)
        this.pendingCount -= n
        this.droppedPending += n
      }
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      const keepalive = await this.#waitForWork()
      if (!this.#running) break
      const outbox = this.outbox as Outbox
      if (this.#needFull) {
        const inst = this.#reporter.inst
        let any = false
        for (const ts of inst.timeseries()) if ((any = covers(this.#config.ReportResource, ts.path))) break
        if (any) await this.#send([], `${this.#config.uuid}:meta:${Date.now()}`, true)
        else this.#needFull = false // nothing to describe yet: streams are described with their first readings
        continue
      }
      const slices = outbox.take(MAX_READINGS_PER_POST)
      if (slices.length === 0 && !keepalive) continue
      try {
        await this.#send(slices, batchId(this.#config.uuid, slices), false)
      } finally {
        outbox.release(slices)
      }
    }
    this.state = 'stopped'
  }

  /** Resolves when there is something to send; true when it is only the MaxPeriod keepalive. */
  async #waitForWork(): Promise<boolean> {
    for (;;) {
      if (!this.#running) return false
      const now = Date.now()
      const earliest = this.#lastDelivery + this.#config.MinPeriod * 1000
      const hasWork = this.#needFull || (this.outbox?.buffered ?? 0) > 0
      const keepaliveAt = this.#config.MaxPeriod === undefined ? Number.POSITIVE_INFINITY : this.#lastDelivery + this.#config.MaxPeriod * 1000
      if (hasWork && now >= earliest) return false
      if (now >= keepaliveAt) return true
      this.state = 'idle'
      await this.#sleep(Math.min(hasWork ? earliest : keepaliveAt, now + 60_000) - now, true)
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

  /** Sends one batch until it is acknowledged, split, dead-lettered, or the channel stops. */
  async #send(slices: OutboxSlice[], id: string, metaOnly: boolean): Promise<void> {
    const opts = this.#reporter.options
    let failures = 0
    while (this.#running) {
      const { json, sent } = this.#payload(slices, metaOnly)
      const location = this.locations[this.#location] as string
      this.state = failures === 0 ? 'delivering' : 'retrying'
      const outcome = await postReport(location, json, { gzip: this.#config.Format === 'gzip-json', timeoutMs: opts.timeoutMs ?? 30_000, batchId: id, signal: this.#abort.signal })
      if (!this.#running && outcome.kind !== 'ok') return
      if (outcome.kind === 'ok') {
        // counted in the same tick as consume() takes them off the backlog, so the books always balance
        if (slices.length > 0) this.delivered += (this.outbox as Outbox).consume(slices)
        await (this.outbox as Outbox).settled()
        for (const [r, v] of sent) this.#sentMeta.set(r, v)
        if (metaOnly) this.#needFull = false
        this.lastSuccess = Date.now()
        this.#lastDelivery = this.lastSuccess
        this.state = 'idle'
        return
      }
      this.lastError = { message: outcome.error, time: Date.now() }
      if (outcome.kind === 'split' && countSlices(slices) > 1) {
        const [a, b] = splitSlices(slices)
        await this.#send(a, `${id}.1`, false)
        await this.#send(b, `${id}.2`, false)
        return
      }
      if (outcome.kind === 'split' || outcome.kind === 'reject') {
        if (metaOnly) {
          this.#needFull = false // the data batches carry the objects again
          return
        }
        await this.#deadLetter(slices, id, outcome.error)
        return
      }
      // retry: the next location first; after a full round, back off
      failures++
      this.#location = (this.#location + 1) % this.locations.length
      if (failures % this.locations.length === 0) {
        const round = failures / this.locations.length
        const delay = Math.max(backoffDelay(round - 1, opts.backoffMs ?? 500, opts.maxBackoffMs ?? 60_000), outcome.retryAfterMs ?? 0)
        this.state = 'retrying'
        await this.#sleep(Math.min(delay, 10 * 60_000), false)
      }
    }
  }

  /** The report body for a batch: full objects (and parent collections) where metadata is new to this subscriber. */
  #payload(slices: OutboxSlice[], metaOnly: boolean): { json: string; sent: Array<[object, number]> } {
    const inst = this.#reporter.inst
    const out: Record<string, Record<string, unknown> & { Readings?: Reading[] }> = {}
    const sent: Array<[object, number]> = []
    const full = (r: Timeseries | Collection): boolean => this.#sentMeta.get(r) !== r._metaVersion
    const addParents = (path: string): void => {
      for (let p = parentPath(path); ; p = parentPath(p)) {
        const coll = inst.getCollection(p)
        if (coll && !(p in out) && full(coll)) {
          out[p] = coll.toJSON() as unknown as Record<string, unknown>
          sent.push([coll, coll._metaVersion])
        }
        if (p === '/') break
      }
    }
    if (metaOnly) {
      for (const ts of inst.timeseries()) {
        if (!covers(this.#config.ReportResource, ts.path)) continue
        out[ts.path] = { ...ts.toJSON(), Readings: [] }
        sent.push([ts, ts._metaVersion])
        addParents(ts.path)
      }
    }
    for (const s of slices) {
      const e = s.chunk.entries[s.i] as OutboxEntry
      let obj = out[e.p]
      if (obj === undefined) {
        const ts = inst.getTimeseries(e.p)
        if (ts && ts.uuid === e.u && full(ts)) {
          obj = { ...ts.toJSON(), Readings: [] }
          sent.push([ts, ts._metaVersion])
          addParents(e.p)
        } else obj = { uuid: e.u, Readings: [] }
        out[e.p] = obj
      }
      const readings = obj.Readings as Reading[]
      for (let k = s.from; k < s.to; k++) readings.push(e.r[k] as Reading)
    }
    return { json: JSON.stringify(out), sent }
  }

  async #deadLetter(slices: OutboxSlice[], id: string, error: string): Promise<void> {
    const store = this.#deadLetters as Store
    const entries: OutboxEntry[] = slices.map((s) => {
      const e = s.chunk.entries[s.i] as OutboxEntry
      return { p: e.p, u: e.u, r: e.r.slice(s.from, s.to) }
    })
    const n = countSlices(slices)
    const max = this.#reporter.options.maxDeadLetters ?? 100
    try {
      await store.insert({ _id: `d${Date.now()}-${Math.random().toString(36).slice(2, 10)}`, t: Date.now(), batchId: id, error, n, e: entries })
      this.#deadLetterCount++
      if (this.#deadLetterCount > max) {
        const oldest = await store.find({}).sort({ t: 1 }).limit(this.#deadLetterCount - max)
        for (const d of oldest) {
          await store.remove({ _id: d._id }, {})
          this.#deadLetterCount--
          this.droppedPending += (d as unknown as { n: number }).n
          this.deadLettered -= (d as unknown as { n: number }).n
        }
        await this.#compactDeadLetters()
      }
    } catch (err) {
      // could not set it aside: keep it in the outbox rather than lose it
      this.#reporter.options.logger.error(`report ${this.#config.uuid}: cannot store a rejected batch in ${this.dir}/deadletters.db; it stays in the outbox`, err)
      await this.#sleep(5000, false)
      return
    }
    this.deadLettered += (this.outbox as Outbox).consume(slices)
    await (this.outbox as Outbox).settled()
    this.#reporter.options.logger.warn(`report ${this.#config.uuid}: batch ${id} (${n} readings) was rejected (${error}); it is kept as a dead letter, replay it with POST /reports/${this.#config.uuid}/replay`)
  }

  // Removals are appended lines; without this a long-lived store would only
  // shrink at the next start. Our own compaction, so a failure is logged, not
  // an unhandled rejection (as NeDB's autocompaction's is).
  async #compactDeadLetters(): Promise<void> {
    const err = this.#deadLetters ? await compactStore(this.#deadLetters) : undefined
    if (err) this.#reporter.options.logger.warn(`report ${this.#config.uuid}: could not compact ${this.dir}/deadletters.db (${err.message}); it is tried again after the next removal`)
  }

  /** Moves dead letters back into the outbox; resolves with how many readings. */
  async replay(): Promise<number> {
    const store = this.#deadLetters
    if (!store || !this.outbox) return 0
    const docs = (await store.find({}).sort({ t: 1 })) as unknown as Array<{ _id: string; n: number; e: OutboxEntry[] }>
    let n = 0
    for (const d of docs) {
      try {
        await this.outbox.append(d.e)
      } catch (err) {
        throw new SmapError('SMAP_REPORT_WRITE', `cannot move dead letters back into the outbox in ${this.dir}: ${(err as Error).message}; ${n} readings were replayed, try again when the disk has room`, { cause: err })
      }
      await store.remove({ _id: d._id }, {})
      this.#deadLetterCount--
      this.deadLettered -= d.n
      n += d.n
    }
    await this.#compactDeadLetters()
    this.#wake?.()
    return n
  }

  async stop(): Promise<void> {
    await this.flush()
    this.#running = false
    // a POST on the wire gets a moment to be acknowledged, so that a clean stop sends nothing twice
    if (this.state === 'delivering') await Promise.race([this.#loop, new Promise((r) => setTimeout(r, 1000))])
    this.#abort.abort()
    this.#wake?.()
    await this.#loop
    this.#abort = new AbortController()
  }

  async destroy(): Promise<void> {
    await this.stop()
    await rm(this.dir, { recursive: true, force: true })
  }

  async status(): Promise<ChannelStatus> {
    const box = this.outbox
    // the one figure that needs I/O first: every counter below is then read in one tick, so they always balance
    const backlogBytes = (await box?.bytes()) ?? 0
    const oldest = box?.oldest
    return {
      locations: this.locations,
      currentLocation: this.locations[this.#location] as string,
      state: this.state,
      backlogReadings: box?.buffered ?? 0,
      backlogBytes,
      oldestUndeliveredAgeMs: oldest === undefined ? null : Date.now() - oldest,
      lastSuccess: this.lastSuccess ?? null,
      lastError: this.lastError ?? null,
      writeError: box?.writeError ?? null,
      added: this.added,
      restored: box?.restored ?? 0,
      delivered: this.delivered,
      dropped: { total: (box?.droppedTotal ?? 0) + this.droppedPending, perStream: Object.fromEntries(box?.dropped ?? []) },
      deadLettered: this.deadLettered,
      deadLetters: this.#deadLetterCount,
      pending: this.pendingCount,
    }
  }
}

function countSlices(slices: OutboxSlice[]): number {
  let n = 0
  for (const s of slices) n += s.to - s.from
  return n
}

function splitSlices(slices: OutboxSlice[]): [OutboxSlice[], OutboxSlice[]] {
  const half = Math.ceil(countSlices(slices) / 2)
  const a: OutboxSlice[] = []
  const b: OutboxSlice[] = []
  let n = 0
  for (const s of slices) {
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
  return [a, b]
}

/** Stable across retries and restarts: named by the outbox positions it covers. */
function batchId(uuid: string, slices: OutboxSlice[]): string {
  if (slices.length === 0) return `${uuid}:empty:${Date.now()}`
  const first = slices[0] as OutboxSlice
  const last = slices[slices.length - 1] as OutboxSlice
  return `${uuid}:${first.chunk.seq}.${first.i}.${first.from}-${last.chunk.seq}.${last.i}.${last.to}`
}

/** One subscription: its config, where it came from, and its channels. */
export class Subscription {
  config: ReportConfig
  readonly origin: 'config' | 'http'
  /** `conf.ini:12` for one from a config. */
  readonly where: string | undefined
  /** Its section name, `report 0`, for one from a config. */
  readonly name: string | undefined
  channels: Channel[] = []
  constructor(config: ReportConfig, origin: 'config' | 'http', where?: string, name?: string) {
    this.config = config
    this.origin = origin
    this.where = where
    this.name = name
  }
}

/** Every subscription of an instance: their outboxes, delivery, persistence and status. */
export class Reporter {
  readonly inst: SmapInstance
  readonly options: ReporterOptions
  readonly subscriptions = new Map<string, Subscription>()
  /** Bumped when subscriptions change, so streams recompute where their readings go. */
  version = 1
  #store: Store | undefined
  #started = false
  #timer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  /** When false, readings stay in memory until `flush()` (an import writes a whole chunk at once). */
  autoFlush = true

  constructor(inst: SmapInstance, options: ReporterOptions) {
    this.inst = inst
    this.options = options
  }

  /** The hot path: every reading of every stream passes here. */
  onReading = (ts: Timeseries, time: number, value: ReadingValue): void => {
    if (ts._reportVersion !== this.version) {
      const targets: Channel[] = []
      for (const sub of this.subscriptions.values()) if (covers(sub.config.ReportResource, ts.path)) targets.push(...sub.channels)
      ts._reportTargets = targets
      ts._reportVersion = this.version
    }
    const targets = ts._reportTargets as Channel[]
    for (let i = 0; i < targets.length; i++) (targets[i] as Channel).push(ts, time, value)
  }

  /** Adds (or replaces) a subscription; opened at once if reporting has started. */
  async add(config: ReportConfig, origin: 'config' | 'http', where?: string, name?: string): Promise<Subscription> {
    const previous = this.subscriptions.get(config.uuid)
    const sub = new Subscription(config, origin, where, name)
    const dir = join(this.options.dataDir, 'reports', config.uuid)
    const groups = config.Delivery === 'fanout' ? config.ReportDeliveryLocation.map((l) => [l]) : [config.ReportDeliveryLocation]
    sub.channels = groups.map((locations, i) => new Channel(this, sub, join(dir, String(i)), locations))
    // new readings go to the new channels from now on (held in memory until they open) ...
    this.subscriptions.set(config.uuid, sub)
    this.version++
    // ... while the old ones write what they hold and close, before the new ones open the same files
    if (previous) await this.#closeChannels(previous, config)
    if (origin === 'http') await this.#persist(sub)
    if (this.#started) for (const ch of sub.channels) await ch.open()
    return sub
  }

  /** Removes a subscription and its undelivered data. */
  async remove(uuid: string): Promise<boolean> {
    const sub = this.subscriptions.get(uuid)
    if (!sub) return false
    this.subscriptions.delete(uuid)
    this.version++
    for (const ch of sub.channels) await ch.destroy()
    await rm(join(this.options.dataDir, 'reports', uuid), { recursive: true, force: true })
    if (sub.origin === 'http') await (await this.#openStore()).remove({ _id: uuid }, {})
    return true
  }

  async #closeChannels(previous: Subscription, next: ReportConfig): Promise<void> {
    const keep = next.Delivery === 'fanout' ? next.ReportDeliveryLocation.length : 1
    for (const [i, ch] of previous.channels.entries()) {
      if (i < keep) await ch.stop()
      else await ch.destroy()
    }
  }

  async #openStore(): Promise<Store> {
    this.#store ??= await openStore(join(this.options.dataDir, 'subscriptions.db'))
    return this.#store
  }

  async #persist(sub: Subscription): Promise<void> {
    const store = await this.#openStore()
    await store.update({ _id: sub.config.uuid }, { _id: sub.config.uuid, config: sub.config }, { upsert: true })
  }

  /** Opens every outbox (loading what a previous run left), restores subscriptions made over HTTP, and starts delivery. */
  async start(): Promise<void> {
    if (this.#started) return
    this.#started = true
    if (existsSync(join(this.options.dataDir, 'subscriptions.db'))) {
      const store = await this.#openStore()
      for (const doc of (await store.find({})) as unknown as Array<{ config: ReportConfig }>) {
        if (!this.subscriptions.has(doc.config.uuid)) await this.add(doc.config, 'http')
      }
    }
    for (const sub of this.subscriptions.values()) for (const ch of sub.channels) if (!ch.outbox) await ch.open()
    const tick = (): void => {
      this.#timer = setTimeout(() => {
        void this.#tick().finally(() => {
          if (this.#started) tick()
        })
      }, this.options.flushMs ?? 100)
    }
    tick()
  }

  async #tick(): Promise<void> {
    if (this.autoFlush) await this.flush()
    const now = Date.now()
    for (const sub of [...this.subscriptions.values()]) {
      if (sub.config.ExpireTime !== undefined && now >= sub.config.ExpireTime) {
        this.options.logger.info(`report ${sub.config.uuid} expired; removing it`)
        await this.remove(sub.config.uuid)
      }
    }
  }

  /** Writes every pending reading to its outbox now. */
  async flush(): Promise<void> {
    const run = async (): Promise<void> => {
      for (const sub of this.subscriptions.values()) for (const ch of sub.channels) await ch.flush()
    }
    this.#flushing = (this.#flushing ?? Promise.resolve()).then(run, run)
    await this.#flushing
  }

  /** Flushes, stops delivery (an in-flight POST is abandoned: it is sent again next time), closes stores. */
  async stop(): Promise<void> {
    if (!this.#started) return
    this.#started = false
    if (this.#timer) clearTimeout(this.#timer)
    for (const sub of this.subscriptions.values()) for (const ch of sub.channels) await ch.stop()
  }

  /** Forgets readings not yet written to an outbox (a failed import chunk). */
  discardPending(): void {
    for (const sub of this.subscriptions.values()) for (const ch of sub.channels) ch.discardPending()
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
    for (const sub of this.subscriptions.values()) {
      for (const ch of sub.channels) {
        backlog += (ch.outbox?.buffered ?? 0) + ch.pendingCount
        deadLetters += ch.deadLettered
        dropped += (ch.outbox?.droppedTotal ?? 0) + ch.droppedPending
        for (const n of ch.outbox?.perStream.values() ?? []) fullest = Math.max(fullest, n / sub.config.MaxBuffer)
      }
    }
    return { backlog, deadLetters, dropped, fullest }
  }

  async replay(uuid: string): Promise<number> {
    const sub = this.subscriptions.get(uuid)
    if (!sub) return 0
    let n = 0
    for (const ch of sub.channels) n += await ch.replay()
    return n
  }

  async status(): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {}
    for (const [uuid, sub] of this.subscriptions) {
      out[uuid] = {
        ReportResource: sub.config.ReportResource,
        origin: sub.where ?? sub.origin,
        delivery: sub.config.Delivery,
        channels: await Promise.all(sub.channels.map((c) => c.status())),
      }
    }
    return out
  }
}
