import { randomUUID } from 'node:crypto'
import { dirname, join, resolve as resolvePath } from 'node:path'
import type { DriverDefinition, MetadataInput, Principal, ReadingValue, Report } from '@smap/sdk'
import { Actuation } from './actuation/actuation.js'
import { AuditLog, type AuditEntry } from './actuation/audit.js'
import { JobFile } from './actuation/job-file.js'
import { Jobs, type Job, type JobState } from './actuation/jobs.js'
import type { WriteResult } from './drivers/actuator-point.js'
import { systemClock } from './clock.js'
import type { BrokerSettings, Secret, TokenSettings } from './credentials.js'
import { DisabledFile } from './drivers/disabled-file.js'
import { DriverHost } from './drivers/host.js'
import type { DriverInstance, DriverSource, DriverStatus, SupervisionOptions } from './drivers/driver-instance.js'
import { fileStateBackend } from './drivers/state-store.js'
import { startWatchdog } from './drivers/watchdog.js'
import { createConsoleLogger, type Logger } from './logger.js'
import { Reporter, type ReportStatus } from './reporting/reporter.js'
import { DEFAULT_MAX_SUBSCRIPTIONS, normalizeReport, parseReport, type ReportConfig, type ReportOrigin, type Subscription } from './reporting/subscription.js'
import { httpStatus, smapError, SmapError } from './errors.js'
import type { Collection } from './tree/collection.js'
import { uuid5 } from './tree/identity.js'
import type { ReadingListener, Timeseries, TimeseriesOptions } from './tree/timeseries.js'
import { Tree, type CollectionOptions, type Resource } from './tree/tree.js'

/** Options of a new instance. */
export interface SmapInstanceOptions {
  /** Default time zone of its streams (a config's root `Properties/Timezone`). */
  timezone?: string
  logger?: Logger
  /** Settings for serving it, as a config's `[server]` section gives them; fixed once the instance is made. */
  server?: ServerSettings
  /** The config file it was loaded from, if any. */
  configFile?: string
}

/** How an instance is served; `serve` and `smap run` use these unless told otherwise. */
export interface ServerSettings {
  port?: number
  host?: string
  /** Outboxes, subscriptions and driver state; default `.smap` beside the config (or in the working directory). */
  dataDir?: string
  /** Lets clients other than this machine manage subscriptions, with `Authorization: Bearer TOKEN` (a token of scope reports named "ReportToken"). */
  reportToken?: Secret
  /** Bearer tokens of `[token NAME]` sections, each with its scopes. */
  tokens?: TokenSettings[]
  /** MQTT brokers' logins, of `[broker NAME]` sections. */
  brokers?: BrokerSettings[]
  /** Also serve HTTPS on this port (0 picks a free one), with `tlsKey` and `tlsCert`. */
  tlsPort?: number
  /** The server's private key (PEM file, absolute path). */
  tlsKey?: string
  /** The server's certificate chain (PEM file, absolute path). */
  tlsCert?: string
  /** Client certificates signed by these CAs (PEM file, absolute path) may change things; the server asks clients for one. */
  tlsCA?: string
  /** Refuse TLS connections without a client certificate signed by `tlsCA`, at the handshake. */
  tlsVerifyClients?: boolean
  /** Plain HTTP on `port` (default true); false serves HTTPS only. */
  http?: boolean
  /**
   * Client networks (CIDR, or single addresses) allowed to manage `/reports`
   * without a token, as the original archiver subscribes from another machine.
   */
  reportClients?: string[]
  /** If set, delivery locations may only name these hosts. */
  reportHosts?: string[]
  /** Allow delivery to link-local addresses (169.254.0.0/16, fe80::/10). */
  allowLinkLocal?: boolean
  /** fsync the outbox after every write (survives power loss; slower). */
  fsync?: boolean
  /** The least time between two writes to one report's outbox, ms (default 10); a reading that finds it idle is written at once. */
  flushInterval?: number
  /** How long a subscriber may take to answer a POST, ms (default 30,000). */
  reportTimeout?: number
  /** First retry delay after a failed delivery, ms (default 500); doubles up to `maxRetryBackoff` (default 60,000). */
  retryBackoff?: number
  maxRetryBackoff?: number
  /** The most subscriptions it keeps, from config and HTTP together (default 100). */
  maxSubscriptions?: number
  /** The most HTTP connections open at once (default 256); more are closed as they arrive. */
  maxConnections?: number
  /**
   * The most bytes of undelivered readings all outboxes together may hold
   * (`backlogBytes` in `/status`, summed); beyond it the oldest readings are
   * dropped, counted and logged. No cap by default (each stream's MaxBuffer still applies).
   */
  maxOutboxBytes?: number
  /** How late a scheduled job may start after a restart, ms (default 60,000); one later than that is marked missed. */
  jobGrace?: number
}

/** What `GET /status` shows. */
export interface SourceStatus {
  root: string
  drivers: Record<string, DriverStatus>
  reports: Record<string, ReportStatus>
  /** Only when the source has actuator points: each one's state, the jobs by state, the latest write attempts. */
  actuation?: {
    points: Record<string, { model: string; state: number | string | null; lastWrite: number | null }>
    jobs: Record<JobState, number>
    audit: AuditEntry[]
    auditFailures: number
  }
}

/**
 * A sMAP source: a tree of collections and timeseries under a root uuid, the
 * drivers that fill it, and the subscriptions its readings are delivered to.
 * @example
 * const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92')
 * inst.addTimeseries('/sensor0', 'sensor0', 'V')
 * inst.add('/sensor0', 42)
 */
export class SmapInstance {
  readonly logger: Logger
  /** The settings it was made with (read-only: give them to `load` or the constructor, so nothing is built before they are known). */
  readonly server: Readonly<ServerSettings>
  /** The config file it was loaded from (absolute), if any. */
  readonly configFile: string | undefined
  /** The resource model. */
  readonly tree: Tree
  /** @internal subscriptions and their delivery. */
  readonly reporter: Reporter
  readonly #host: DriverHost
  readonly #dataDir: string
  /** @internal every write passes here (HTTP, jobs, `actuate`). */
  readonly actuation: Actuation
  /** @internal scheduled writes. */
  readonly jobs: Jobs
  #driverListeners: ReadonlyArray<(path: string, status: DriverStatus) => void> = []
  #stopWatchdog: (() => void) | undefined
  #started = false
  #starting = false

  constructor(root: string, options: SmapInstanceOptions = {}) {
    this.tree = new Tree(root, options.timezone)
    this.logger = options.logger ?? createConsoleLogger()
    this.configFile = options.configFile
    const s = options.server ?? {}
    const dataDir = s.dataDir ?? (this.configFile ? join(dirname(this.configFile), '.smap') : resolvePath('.smap'))
    this.server = Object.freeze({ ...s })
    this.#dataDir = dataDir
    this.reporter = new Reporter(this.tree, {
      dataDir,
      flushMs: s.flushInterval,
      fsync: s.fsync,
      timeoutMs: s.reportTimeout,
      backoffMs: s.retryBackoff,
      maxBackoffMs: s.maxRetryBackoff,
      maxOutboxBytes: s.maxOutboxBytes,
      policy: { allowedHosts: s.reportHosts, allowLinkLocal: s.allowLinkLocal },
      brokers: s.brokers,
      logger: this.logger,
    })
    this.#host = new DriverHost({
      tree: this.tree,
      clock: systemClock,
      logger: this.logger,
      stateBackend: (namespace) => fileStateBackend(join(dataDir, 'drivers', `${namespace}.json`)),
      flush: () => this.reporter.flush(),
      onChange: (d) => {
        const listeners = this.#driverListeners
        if (listeners.length === 0) return
        const status = d.status()
        // a listener's mistake is logged, never the driver's: its lifecycle goes on
        for (const l of listeners) {
          try {
            l(d.path, status)
          } catch (err) {
            this.logger.error(`a driver-change listener failed on ${d.path}`, err)
          }
        }
      },
    }, new DisabledFile(join(dataDir, 'disabled-drivers.json')))
    this.actuation = new Actuation(this.tree, { find: (path) => this.#host.point(path), all: () => this.#host.points() }, new AuditLog(join(dataDir, 'audit.jsonl'), this.logger))
    this.jobs = new Jobs(new JobFile<Job>(join(dataDir, 'jobs.json')), this.actuation, this.logger, s.jobGrace)
  }

  /** The root uuid: the source's durable identity. */
  get root(): string {
    return this.tree.root
  }

  /** Default time zone of streams that do not set their own. */
  get timezone(): string {
    return this.tree.timezone
  }

  set timezone(zone: string) {
    this.tree.timezone = zone
  }

  /** Where outboxes, subscriptions and driver state are kept. */
  get dataDir(): string {
    return this.#dataDir
  }

  /** The uuid a stream with this key gets in this source: uuid5(root, key). */
  uuid(key: string): string {
    return uuid5(this.root, key)
  }

  /**
   * Adds a timeseries, creating missing parent collections.
   * @example inst.addTimeseries('/sensor0', 'sensor0', 'V')
   * @example inst.addTimeseries('/temp', { unit: 'C', readingType: 'double' })
   */
  addTimeseries(path: string, key: string, unit: string, options?: Omit<TimeseriesOptions, 'unit' | 'key'>): Timeseries
  addTimeseries(path: string, options: TimeseriesOptions): Timeseries
  addTimeseries(path: string, keyOrOptions: string | TimeseriesOptions, unit?: string, options?: Omit<TimeseriesOptions, 'unit' | 'key'>): Timeseries {
    return this.tree.addTimeseries(path, typeof keyOrOptions === 'string' ? { ...options, key: keyOrOptions, unit: unit as string } : { ...keyOrOptions })
  }

  /** Adds a collection (and any missing parents); adding one that exists already is an error. */
  addCollection(path: string, options: CollectionOptions = {}): Collection {
    return this.tree.addCollection(path, options)
  }

  /** The collection at `path`, or undefined. */
  getCollection(path: string): Collection | undefined {
    return this.tree.getCollection(path)
  }

  /** The timeseries at a path or with a uuid, or undefined. */
  getTimeseries(pathOrUuid: string): Timeseries | undefined {
    return this.tree.getTimeseries(pathOrUuid)
  }

  /** The resource at a path, or the timeseries with a uuid, or undefined. */
  lookup(pathOrUuid: string): Resource | undefined {
    return this.tree.lookup(pathOrUuid)
  }

  /**
   * Merges metadata into the resource at `path`; keys may be `Group/Name` or nested objects.
   * @example inst.setMetadata('/instrument0', { 'Instrument/Manufacturer': 'Dent' })
   */
  setMetadata(path: string, metadata: MetadataInput): void {
    this.tree.setMetadata(path, metadata)
  }

  /**
   * Adds a reading to the stream at `path` (or with that uuid), stamped now or at `time` (Unix ms).
   * @example inst.add('/sensor0', 42)
   */
  add(path: string, value: ReadingValue): void
  add(path: string, time: number, value: ReadingValue): void
  add(path: string, a: number | ReadingValue, b?: ReadingValue): void {
    this.tree.add(path, a, b)
  }

  /** Every resource at or below `path`, parents before children, in the order they were added. */
  resources(path = '/'): Generator<Resource> {
    return this.tree.resources(path)
  }

  /** Every timeseries at or below `path`. */
  timeseries(path = '/'): Generator<Timeseries> {
    return this.tree.timeseries(path)
  }

  /** Calls `listener` for every reading added to any stream; returns the function that stops it. */
  onReading(listener: ReadingListener): () => void {
    return this.tree.onReading(listener)
  }

  /** Subscriptions by uuid. */
  get subscriptions(): ReadonlyMap<string, Subscription> {
    return this.reporter.subscriptions
  }

  /**
   * Subscribes a destination to readings: they are kept in a durable outbox
   * and POSTed until acknowledged.
   * @example await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: 'http://localhost:8079/add' })
   */
  async addReport(report: Report, options: { origin?: ReportOrigin; where?: string; name?: string } = {}): Promise<ReportConfig> {
    const parsed = parseReport(report)
    const config = normalizeReport(parsed, parsed.uuid?.toLowerCase() ?? randomUUID(), { allowedHosts: this.server.reportHosts, allowLinkLocal: this.server.allowLinkLocal })
    const limit = this.server.maxSubscriptions ?? DEFAULT_MAX_SUBSCRIPTIONS
    if (!this.reporter.subscriptions.has(config.uuid) && this.reporter.subscriptions.size >= limit) {
      throw smapError('SMAP_REPORT_LIMIT', `this source keeps at most ${limit} subscriptions (MaxSubscriptions in [server]); remove one first (DELETE /reports/UUID)`)
    }
    await this.reporter.add(config, options.origin ?? 'config', options.where, options.name)
    if (this.#started) await this.reporter.start()
    return config
  }

  /** Removes a subscription and what it had not delivered; false if there is none. */
  removeReport(uuid: string): Promise<boolean> {
    return this.reporter.remove(uuid)
  }

  /** Moves a subscription's dead letters back into its outboxes; resolves with how many readings. */
  replayReport(uuid: string): Promise<number> {
    return this.reporter.replay(uuid)
  }

  /** Readings not yet acknowledged by every subscriber, readings set aside as dead letters, and readings dropped by a full buffer. */
  undelivered(): { backlog: number; deadLetters: number; dropped: number } {
    const { backlog, deadLetters, dropped } = this.reporter.undelivered()
    return { backlog, deadLetters, dropped }
  }

  /** Writes every reading added so far to the subscriptions' outboxes. */
  async flush(): Promise<void> {
    await this.reporter.flush()
  }

  /**
   * Writes `state` to the actuator point at `path`, as `PUT /data/PATH?state=`
   * does: checked by the point's model, queued, audited. Resolves with the
   * state the device reached and its reading.
   * @example await inst.actuate('/thermostat/setpoint', 21.5)
   */
  async actuate(path: string, state: unknown, principal: Principal = { via: 'loopback', name: 'this process' }): Promise<WriteResult> {
    const { state: reached, reading } = await this.actuation.write(path, state, principal)
    return { state: reached, reading }
  }

  /** Drivers attached to this instance, by path. */
  get drivers(): ReadonlyMap<string, DriverInstance> {
    return this.#host.drivers
  }

  /** Each attached driver's line in `/status`, by path. */
  driverStatus(): Record<string, DriverStatus> {
    return this.#host.status()
  }

  /** Calls `listener` whenever a driver's state, health or `disabled` changes; returns the function that stops it. */
  onDriverChange(listener: (path: string, status: DriverStatus) => void): () => void {
    this.#driverListeners = [...this.#driverListeners, listener]
    return () => {
      this.#driverListeners = this.#driverListeners.filter((l) => l !== listener)
    }
  }

  /**
   * Restarts the driver attached at `path` now, its backoff reset, as
   * `POST /drivers/PATH/restart` does; audited. Resolves with its status once
   * the old run has stopped and the new one is starting.
   */
  async restartDriver(path: string, principal: Principal = { via: 'loopback', name: 'this process' }): Promise<DriverStatus> {
    return this.#controlDriver(path, 'restart', principal, () => this.#host.restart(path))
  }

  /**
   * Disables the driver at `path` (it is stopped and stays stopped across
   * restarts of the source, kept in `disabled-drivers.json` in the data
   * directory) or enables it again (it is started); audited.
   */
  async setDriverEnabled(path: string, enabled: boolean, principal: Principal = { via: 'loopback', name: 'this process' }): Promise<DriverStatus> {
    return this.#controlDriver(path, enabled ? 'enabled' : 'disabled', principal, () => this.#host.setDisabled(path, !enabled, `${principal.via}:${principal.name}`))
  }

  async #controlDriver(path: string, state: string, principal: Principal, work: () => Promise<DriverInstance>): Promise<DriverStatus> {
    const entry = { time: Date.now(), principal, path, state, kind: 'driver' as const }
    try {
      const d = await work()
      void this.actuation.audit.record({ ...entry, result: 'ok', status: state === 'restart' ? 202 : 200 })
      return d.status()
    } catch (err) {
      void this.actuation.audit.record({ ...entry, result: err instanceof SmapError ? err.code : 'error', status: httpStatus(err), message: err instanceof Error ? err.message : String(err) })
      throw err
    }
  }

  /**
   * Attaches a driver at `path` (a collection made for it). Options are
   * validated against the driver's schema now; it is set up and started by
   * `start()` (which `serve` calls).
   * @example inst.addDriver('/instrument0', myDriver, { Rate: 5 })
   */
  addDriver(path: string, definition: DriverDefinition, options: Record<string, unknown> = {}, source: Partial<DriverSource> & SupervisionOptions = {}): DriverInstance {
    return this.#host.add(path, definition, options, source)
  }

  /**
   * Sets up every driver, starts reporting, then starts every driver; driver
   * failures are logged and retried, never thrown. `{ drivers: false }` starts
   * only reporting (an import runs drivers' `load` itself).
   */
  async start(options: { drivers?: boolean } = {}): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#starting = true
    this.#stopWatchdog = startWatchdog(this.logger, (since) => this.#host.polledSince(since))
    try {
      await this.#start(options)
    } finally {
      this.#starting = false
    }
  }

  /** Whether `start()` has yet to restore the saved subscriptions (the HTTP layer refuses subscription changes meanwhile). */
  get starting(): boolean {
    return this.#starting
  }

  async #start(options: { drivers?: boolean }): Promise<void> {
    // reporting starts once the drivers have built their streams, so a new
    // subscriber's first report holds them; subscriptions made over HTTP in
    // an earlier run come back then, with what they had not delivered
    const startReporting = async (): Promise<void> => {
      if (this.reporter.hasWork) await this.reporter.start()
      this.#starting = false
    }
    if (options.drivers === false) await startReporting()
    else {
      await this.#host.start(startReporting)
      await this.actuation.audit.open()
      // saved jobs come back once the drivers they write to run
      await this.jobs.start()
    }
  }

  /** Stops every driver (each within its deadline), then delivery. */
  async stop(): Promise<void> {
    this.#started = false
    this.#stopWatchdog?.()
    this.#stopWatchdog = undefined
    await this.jobs.stop()
    await this.#host.stop()
    await this.actuation.audit.flushed()
    await this.reporter.stop()
  }

  /** What `GET /status` shows: one moment's figures, drivers and reports alike. */
  async status(): Promise<SourceStatus> {
    const reports = await this.reporter.status()
    const out: SourceStatus = { root: this.root, drivers: this.driverStatus(), reports: reports() }
    const points = [...this.#host.points()]
    if (points.length > 0) {
      const audit = this.actuation.audit.status()
      out.actuation = {
        points: Object.fromEntries(points.map((p) => [p.path, { model: p.model.spec.model, state: p.state ?? null, lastWrite: p.lastWrite ?? null }])),
        jobs: this.jobs.counts(),
        audit: audit.latest.slice(-20),
        auditFailures: audit.failures,
      }
    }
    return out
  }
}
