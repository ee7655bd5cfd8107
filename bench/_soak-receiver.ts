// The receiving end of bench/soak.ts: a node:http server in the bench process
// that takes POST /add reports (JSON, possibly gzip) and can flap between up,
// down (its socket closed: connection refused), answering 503, and answering
// slowly. It keeps every distinct reading it acknowledged, keyed by
// (uuid, time), and counts the ones it got again.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { gunzip as gunzipCb } from 'node:zlib'

const gunzip = promisify(gunzipCb)

export const HOST = '127.0.0.1'

export type ReceiverMode = 'up' | 'down' | '503' | 'slow'

/** A reading's slot: the generator stamps slot s at time s * period with value s. */
export interface ReceiverOptions {
  /** The generator's period, ms: a reading [t, v] must have t === v * periodMs. */
  periodMs: number
  /** How long a slow answer takes, ms: drawn in [min, max) with `random`. */
  slowMs: [number, number]
  /** The source's ReportTimeout, ms: a sender still waiting for an answer later than this has not enforced it. */
  timeoutMs: number
  random: () => number
}

export class Receiver {
  readonly #options: ReceiverOptions
  #server: Server | undefined
  #mode: ReceiverMode = 'down'
  port = 0
  /** Slots received per stream path (distinct readings). */
  readonly slots = new Map<string, Set<number>>()
  /** Times received per stream uuid: the dedupe key is (uuid, time). */
  readonly #times = new Map<string, Set<number>>()
  readonly #pathOf = new Map<string, string>()
  distinct = 0
  duplicates = 0
  posts = 0
  /** 200s, 503s, slow answers (stored at once, acknowledged late), and acknowledgements nobody was left to read. */
  answered = { ok: 0, unavailable: 0, slow: 0, lost: 0 }
  /** Slow answers later than ReportTimeout (+250 ms): whether the sender had given up by then, or was still waiting. */
  pastTimeout = { gaveUp: 0, waited: 0, longestWaitMs: 0 }
  #downs = 0
  /** POSTs without an X-Smap-Batch-Id header. */
  withoutBatchId = 0
  /** Readings or bodies that are not what the generator makes, with why (the first few). */
  readonly malformed: string[] = []
  malformedCount = 0
  /** When each mode was entered: [time, mode]. */
  readonly modes: Array<[number, ReceiverMode]> = []

  constructor(options: ReceiverOptions) {
    this.#options = options
  }

  get mode(): ReceiverMode {
    return this.#mode
  }

  get url(): string {
    return `http://${HOST}:${this.port}/add`
  }

  async setMode(mode: ReceiverMode): Promise<void> {
    this.#mode = mode
    this.modes.push([Date.now(), mode])
    if (mode === 'down') {
      this.#downs++
      await this.#close()
    }
    else if (!this.#server) await this.#listen()
  }

  async #listen(): Promise<void> {
    const deadline = Date.now() + 10_000
    for (;;) {
      const server = createServer((req, res) => this.#handle(req, res))
      server.keepAliveTimeout = 10_000
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(this.port, HOST, () => resolve())
        })
        this.port = (server.address() as AddressInfo).port
        this.#server = server
        return
      } catch (err) {
        // the port may be held a moment after a close, or be some connection's local port
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || Date.now() > deadline) throw err
        await sleep(50)
      }
    }
  }

  async #close(): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  async stop(): Promise<void> {
    await this.#close()
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const parts: Buffer[] = []
    req.on('error', () => {}) // a killed sender
    req.on('data', (b: Buffer) => parts.push(b))
    req.on('end', () => void this.#answer(req, res, Buffer.concat(parts)))
  }

  async #answer(req: IncomingMessage, res: ServerResponse, raw: Buffer): Promise<void> {
    this.posts++
    if (req.method !== 'POST' || req.url !== '/add') {
      this.#malformed(`${req.method} ${req.url}`)
      res.writeHead(404).end()
      return
    }
    if (typeof req.headers['x-smap-batch-id'] !== 'string') this.withoutBatchId++
    const mode = this.#mode
    if (mode === '503') {
      this.answered.unavailable++
      // half of them say when to come back
      res.writeHead(503, this.#options.random() < 0.5 ? { 'Retry-After': '1' } : {}).end('receiver unavailable (soak)')
      return
    }
    let doc: unknown
    try {
      const body = req.headers['content-encoding'] === 'gzip' ? await gunzip(raw) : raw
      doc = JSON.parse(body.toString('utf8'))
    } catch (err) {
      this.#malformed(`unreadable body: ${(err as Error).message}`)
      res.writeHead(400).end()
      return
    }
    // stored first, acknowledged after: a slow answer the sender gave up on leaves readings it will send again
    this.#store(doc)
    if (mode === 'slow') {
      const [lo, hi] = this.#options.slowMs
      const delay = lo + this.#options.random() * (hi - lo)
      const downs = this.#downs
      await sleep(delay)
      this.answered.slow++
      const gone = res.destroyed || req.socket.destroyed
      // (a connection this receiver closed by going down says nothing about the sender)
      if (delay > this.#options.timeoutMs + 250 && downs === this.#downs) {
        if (gone) this.pastTimeout.gaveUp++
        else {
          this.pastTimeout.waited++
          this.pastTimeout.longestWaitMs = Math.max(this.pastTimeout.longestWaitMs, delay)
        }
      }
      if (gone) {
        this.answered.lost++
        return
      }
    }
    this.answered.ok++
    res.writeHead(200, { 'Content-Length': '0' }).end()
  }

  #store(doc: unknown): void {
    if (typeof doc !== 'object' || doc === null) {
      this.#malformed('body is not an object')
      return
    }
    const period = this.#options.periodMs
    for (const [path, entry] of Object.entries(doc as Record<string, { uuid?: unknown; Readings?: unknown }>)) {
      const readings = entry?.Readings
      if (readings === undefined) continue // a collection
      const uuid = entry.uuid
      if (typeof uuid !== 'string' || !Array.isArray(readings)) {
        this.#malformed(`${path}: no uuid or Readings`)
        continue
      }
      const known = this.#pathOf.get(uuid)
      if (known === undefined) this.#pathOf.set(uuid, path)
      else if (known !== path) this.#malformed(`${path}: uuid ${uuid} was ${known} before`)
      let times = this.#times.get(uuid)
      if (!times) this.#times.set(uuid, (times = new Set()))
      let slots = this.slots.get(path)
      if (!slots) this.slots.set(path, (slots = new Set()))
      for (const r of readings as unknown[]) {
        if (!Array.isArray(r) || typeof r[0] !== 'number' || typeof r[1] !== 'number' || r[0] !== r[1] * period) {
          this.#malformed(`${path}: reading ${JSON.stringify(r)} is not [slot * ${period}, slot]`)
          continue
        }
        const [t, v] = r as [number, number]
        if (times.has(t)) {
          this.duplicates++
          continue
        }
        times.add(t)
        slots.add(v)
        this.distinct++
      }
    }
  }

  #malformed(why: string): void {
    this.malformedCount++
    if (this.malformed.length < 10) this.malformed.push(why)
  }
}
