import type { ServerResponse } from 'node:http'
import type { Reading, ReadingValue } from '@smap/sdk'
import type { Context, Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { DriverStatus } from '../drivers/driver-instance.js'
import type { SmapInstance } from '../instance.js'
import { covers } from '../reporting/subscription.js'
import { isWithin, normalizePath } from '../tree/path.js'
import type { Timeseries } from '../tree/timeseries.js'
import { notAllowed } from './data.js'

/** How `GET /events` paces and bounds its streams; the defaults suit a page. */
export interface EventsOptions {
  /** How often readings (and driver changes) are sent, coalesced, ms. Default 250. */
  tickMs?: number
  /** Bytes a client may have unsent (queued here and in the socket's buffer) before it is dropped. Default 1 MiB. */
  maxBufferedBytes?: number
  /** A comment line this often keeps proxies from closing an idle stream, ms. Default 15,000. */
  heartbeatMs?: number
  /** A client whose socket takes no data for this long while some waits is dropped, ms. Default 30,000. */
  stallMs?: number
  /** How long a dropped client has to read the `dropped` event before its connection is cut, ms. Default 10,000. */
  dropGraceMs?: number
  /** The most event streams open at once; more are answered 503. Default 64. */
  maxClients?: number
  /** What the `retry:` field tells clients to wait before reconnecting, ms. Default 2,000. */
  retryMs?: number
}

/** What `/status` shows under `events`. */
export interface EventsStatus {
  /** Event streams open now. */
  open: number
  /** Clients dropped since the source started, for falling behind or stalling. */
  dropped: number
  /** The bound on each client's unsent bytes. */
  limitBytes: number
  /** The most unsent bytes any one client has had. */
  peakBufferedBytes: number
}

/** Readings of one stream kept within a tick. */
const MAX_READINGS_PER_TICK = 256
const MAX_RESOURCES = 256
const encoder = new TextEncoder()

/** One open event stream. */
class Client {
  readonly resources: string[]
  /** The same list, as a key: clients that follow the same resources share one serialized event. */
  readonly key: string
  readonly stream: ReadableStream<Uint8Array>
  readonly #hub: EventHub
  readonly #outgoing: ServerResponse | undefined
  readonly #follows = new WeakMap<Timeseries, boolean>()
  #pending: string[] = []
  #pendingBytes = 0
  #unreadBytes = 0
  #unreadSince = 0
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined
  #wake: (() => void) | undefined
  closed = false

  constructor(hub: EventHub, resources: string[], outgoing: ServerResponse | undefined) {
    this.#hub = hub
    this.resources = resources
    this.key = resources.join('\n')
    this.#outgoing = outgoing
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller
      },
      // called when the socket has taken the last chunk: what waits goes now, else the next send wakes it
      pull: () => {
        this.#unreadBytes = 0
        if (this.#pending.length > 0) return this.#flush()
        return new Promise<void>((resolve) => (this.#wake = resolve))
      },
      cancel: () => this.#hub.remove(this),
    })
  }

  /** Whether readings of `ts` go to this client (as a report's `ReportResource` covers a stream). */
  follows(ts: Timeseries): boolean {
    let yes = this.#follows.get(ts)
    if (yes === undefined) {
      yes = this.resources.some((r) => covers(r, ts.path))
      this.#follows.set(ts, yes)
    }
    return yes
  }

  /** Whether the driver at `path` shares part of the tree with what this client follows. */
  followsDriver(path: string): boolean {
    return this.resources.some((r) => {
      const base = r.endsWith('/+') ? r.slice(0, -2) || '/' : r
      return isWithin(base, path) || isWithin(path, base)
    })
  }

  /** Bytes sent to this client that it has not taken yet: queued here, handed to the stream, in the socket's buffer. */
  get unsent(): number {
    return this.#pendingBytes + this.#unreadBytes + (this.#outgoing?.writableLength ?? 0)
  }

  /** Queues one event; one that would take the client past the bound drops it instead. */
  send(text: string): void {
    if (this.closed) return
    const bytes = Buffer.byteLength(text)
    const unsent = this.unsent
    // a first event larger than the bound still goes: else such a client could never follow
    if (unsent > 0 && unsent + bytes > this.#hub.limitBytes) {
      this.drop('behind', `it fell behind: ${unsent} bytes were still unsent and the next event would pass the bound of ${this.#hub.limitBytes}`)
      return
    }
    this.#pending.push(text)
    this.#pendingBytes += bytes
    this.#hub.notePeak(unsent + bytes)
    if (this.#wake) this.#flush()
  }

  /** Drops a client whose socket has taken nothing for `stallMs` while data waited. */
  checkStall(now: number, stallMs: number): void {
    if (this.#unreadBytes > 0 && now - this.#unreadSince > stallMs) this.drop('stalled', `its connection took no data for ${Math.round(stallMs / 1000)} s`)
  }

  #flush(): void {
    const text = this.#pending.join('')
    this.#pending = []
    this.#pendingBytes = 0
    const chunk = encoder.encode(text)
    this.#unreadBytes = chunk.byteLength
    this.#unreadSince = Date.now()
    this.#controller?.enqueue(chunk)
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  /** Ends the stream with an `event: dropped` saying why and how to come back; cuts the connection if that is not read soon. */
  drop(reason: 'behind' | 'stalled', why: string): void {
    if (this.closed) return
    const query = this.resources.map((r) => `resource=${encodeURIComponent(r)}`).join('&')
    const data = { reason, message: `this event stream was closed because ${why}; reconnect to GET /events?${query}, and GET /data for what was missed`, limitBytes: this.#hub.limitBytes, reconnect: `/events?${query}` }
    this.#pending = []
    this.#pendingBytes = 0
    this.#hub.remove(this, true)
    try {
      this.#controller?.enqueue(encoder.encode(`event: dropped\ndata: ${JSON.stringify(data)}\n\n`))
      this.#controller?.close()
    } catch {
      // the stream was cancelled meanwhile
    }
    this.#wake?.()
    this.#wake = undefined
    const outgoing = this.#outgoing
    if (outgoing) setTimeout(() => void (outgoing.writableFinished || outgoing.destroy()), this.#hub.options.dropGraceMs).unref()
  }
}

/** The event streams of one app: one reading listener and one driver listener for all of them, installed while any is open. */
export class EventHub {
  readonly options: Required<EventsOptions>
  readonly #inst: SmapInstance
  readonly #clients = new Set<Client>()
  #tick = new Map<Timeseries, Reading[]>()
  #drivers = new Map<string, DriverStatus>()
  #interest = new WeakMap<Timeseries, boolean>()
  #stop: Array<() => void> = []
  #dropped = 0
  #peak = 0

  constructor(inst: SmapInstance, options: EventsOptions = {}) {
    this.#inst = inst
    this.options = {
      tickMs: options.tickMs ?? 250,
      maxBufferedBytes: options.maxBufferedBytes ?? 1024 * 1024,
      heartbeatMs: options.heartbeatMs ?? 15_000,
      stallMs: options.stallMs ?? 30_000,
      dropGraceMs: options.dropGraceMs ?? 10_000,
      maxClients: options.maxClients ?? 64,
      retryMs: options.retryMs ?? 2000,
    }
  }

  get limitBytes(): number {
    return this.options.maxBufferedBytes
  }

  notePeak(bytes: number): void {
    if (bytes > this.#peak) this.#peak = bytes
  }

  status(): EventsStatus {
    return { open: this.#clients.size, dropped: this.#dropped, limitBytes: this.limitBytes, peakBufferedBytes: this.#peak }
  }

  /** Opens a stream following `resources`; its first event is `hello`. */
  open(resources: string[], outgoing: ServerResponse | undefined): Client {
    const client = new Client(this, resources, outgoing)
    if (this.#clients.size === 0) this.#listen()
    this.#clients.add(client)
    this.#interest = new WeakMap()
    const drivers = Object.fromEntries(Object.entries(this.#inst.driverStatus()).filter(([p]) => client.followsDriver(p)))
    const hello = { time: Date.now(), root: this.#inst.root, resources, tickMs: this.options.tickMs, limitBytes: this.limitBytes, drivers }
    client.send(`retry: ${this.options.retryMs}\nevent: hello\ndata: ${JSON.stringify(hello)}\n\n`)
    return client
  }

  /** Forgets a client (it closed, or was dropped); the last one takes the listeners with it. */
  remove(client: Client, dropped = false): void {
    if (!this.#clients.delete(client)) return
    client.closed = true
    if (dropped) this.#dropped++
    this.#interest = new WeakMap()
    if (this.#clients.size === 0) this.#unlisten()
  }

  /** How many listeners the hub has installed (0 or 2): for tests that check a closed client leaves none behind. */
  get listening(): number {
    return this.#stop.length === 0 ? 0 : 2
  }

  #listen(): void {
    const offReadings = this.#inst.onReading((ts: Timeseries, time: number, value: ReadingValue) => {
      let wanted = this.#interest.get(ts)
      if (wanted === undefined) {
        wanted = false
        for (const c of this.#clients) if (c.follows(ts)) wanted = true
        this.#interest.set(ts, wanted)
      }
      if (!wanted) return
      const list = this.#tick.get(ts)
      if (!list) this.#tick.set(ts, [[time, value]])
      else {
        if (list.length >= MAX_READINGS_PER_TICK) list.shift()
        list.push([time, value])
      }
    })
    const offDrivers = this.#inst.onDriverChange((path, status) => void this.#drivers.set(path, status))
    const tick = setInterval(() => this.#send(), this.options.tickMs)
    const heartbeat = setInterval(() => {
      const now = Date.now()
      for (const c of [...this.#clients]) {
        c.checkStall(now, this.options.stallMs)
        c.send(`: ${now}\n\n`)
      }
    }, this.options.heartbeatMs)
    tick.unref()
    heartbeat.unref()
    this.#stop = [offReadings, offDrivers, () => clearInterval(tick), () => clearInterval(heartbeat)]
  }

  #unlisten(): void {
    for (const stop of this.#stop) stop()
    this.#stop = []
    this.#tick = new Map()
    this.#drivers = new Map()
  }

  /** One tick: each client gets the readings it follows as one `readings` event, then the driver changes it follows. */
  #send(): void {
    const batch = this.#tick
    const drivers = this.#drivers
    if (batch.size > 0) this.#tick = new Map()
    if (drivers.size > 0) this.#drivers = new Map()
    const fragments = new Map<Timeseries, string>()
    const events = new Map<string, string>()
    for (const c of [...this.#clients]) {
      if (batch.size > 0) {
        let event = events.get(c.key)
        if (event === undefined) {
          const parts: string[] = []
          for (const [ts, readings] of batch) {
            if (!c.follows(ts)) continue
            let f = fragments.get(ts)
            if (f === undefined) {
              f = `${JSON.stringify(ts.path)}:{"uuid":"${ts.uuid}","Readings":${JSON.stringify(readings)}}`
              fragments.set(ts, f)
            }
            parts.push(f)
          }
          event = parts.length === 0 ? '' : `event: readings\ndata: {${parts.join(',')}}\n\n`
          events.set(c.key, event)
        }
        if (event !== '') c.send(event)
      }
      for (const [path, status] of drivers) if (c.followsDriver(path)) c.send(`event: drivers\ndata: ${JSON.stringify({ path, ...status })}\n\n`)
    }
  }
}

/** The resources a request follows: each `resource` parameter a path (`/a/b`) or a subtree (`/a/+`); `/+` when none. */
function parseResources(c: Context): string[] {
  const given = c.req.queries('resource') ?? []
  if (given.length > MAX_RESOURCES) throw new HTTPException(400, { message: `at most ${MAX_RESOURCES} resource parameters, got ${given.length}; follow a common subtree (PATH/+) instead` })
  const out = new Set<string>()
  for (const r of given.length === 0 ? ['/+'] : given) {
    const subtree = r === '/+' || r.endsWith('/+')
    const base = subtree ? r.slice(0, -2) || '/' : r
    let path: string
    try {
      if (!base.startsWith('/')) throw new Error('not absolute')
      path = normalizePath(base)
    } catch {
      throw new HTTPException(400, { message: `resource=${JSON.stringify(r.slice(0, 100))} is not a path: give a path like /a/b, or a subtree like /a/+ (the default is /+, everything)` })
    }
    out.add(subtree ? (path === '/' ? '/+' : `${path}/+`) : path)
  }
  return [...out]
}

/**
 * `GET /events`: server-sent events of the readings under the `resource`
 * parameters (coalesced per tick) and the changes of drivers there, after a
 * `hello`. Open as `GET /data` is. A client that falls behind is sent
 * `event: dropped` and closed.
 */
export function mountEvents(app: Hono, inst: SmapInstance, options: EventsOptions = {}): EventHub {
  const hub = new EventHub(inst, options)
  app.get('/events', (c) => {
    const resources = parseResources(c)
    const headers = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' }
    // HEAD says what GET would be without opening a stream nobody reads
    if (c.req.method === 'HEAD') return new Response(null, { headers })
    if (hub.status().open >= hub.options.maxClients) {
      c.header('Retry-After', '10')
      throw new HTTPException(503, { message: `this source has ${hub.options.maxClients} event streams open, the most it serves; close one, or try again later` })
    }
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing
    const client = hub.open(resources, outgoing)
    return new Response(client.stream, { headers })
  })
  app.all('/events', (c) => notAllowed(c, 'GET, HEAD', `${c.req.method} is not allowed on /events; use GET (server-sent events)`))
  app.all('/events/*', (c) => {
    throw new HTTPException(404, { message: `no resource at ${c.req.path}; the event stream is GET /events?resource=PATH/+` })
  })
  return hub
}
