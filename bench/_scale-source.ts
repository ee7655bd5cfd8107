// The sending end of bench/scale.ts, one workload per process (config as JSON in argv[2]):
//   ours  a SmapInstance with N streams and one report of everything (default
//         settings) to the receiver; served over HTTP when given a port
//   bare  the same readings appended to a file as JSON lines, then POSTed in
//         the sMAP report shape by a loop with one request in flight
// Both are fed by the same generator, and report their CPU, memory and event
// loop when the parent asks for a mark.
import { randomUUID } from 'node:crypto'
import { appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { Logger, Timeseries } from '@smap/core'
import { HOST, loopStats, now, POST_READINGS, ROOT } from './_report-ipc.js'
import { MAX_BUFFER, REPORT_UUID, SLICE_MS, streamPath, type FromSource, type Mark, type SourceConfig, type ToSource } from './_scale-ipc.js'

const loadedMs = performance.now()
const config = JSON.parse(process.argv[2] ?? '{}') as SourceConfig

const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()

const LOGGED_KEPT = 10
const logged: string[] = []
let loggedCount = 0
function log(line: string): void {
  if (loggedCount++ < LOGGED_KEPT) logged.push(line)
}
const logger: Logger = {
  info: () => {},
  warn: (message) => log(`warning: ${message}`),
  error: (message, err) => log(`error: ${message}${err instanceof Error ? `: ${err.message}` : ''}`),
}

function toParent(m: FromSource): void {
  process.send?.(m)
}

/** A reading's value: like a sensor's, or the time it was added (epoch ms, sub-ms) for the latency receiver. */
const value: () => number = config.value === 'addTime' ? now : () => Math.round(Math.random() * 10_000) / 100

let generated = 0

/**
 * Every SLICE_MS, hands the next streams in turn to `slice`, so that each
 * stream gets one reading every `periodMs`. A tick that comes late (the loop
 * was busy) makes up the slices it missed: the offered load stays N readings
 * per period however far behind the source is, as real sensors would not wait.
 */
function generate(streams: number, periodMs: number, slice: (first: number, count: number) => void): void {
  const perSlice = (streams * SLICE_MS) / periodMs
  if (!Number.isInteger(perSlice) || streams % perSlice !== 0) throw new Error(`_scale-source: ${streams} streams every ${periodMs} ms do not split into whole ${SLICE_MS} ms slices`)
  const start = performance.now()
  let done = 0
  let next = 0
  const tick = (): void => {
    const due = Math.floor((performance.now() - start) / SLICE_MS) + 1
    for (; done < due; done++) {
      slice(next, perSlice)
      generated += perSlice
      next = (next + perSlice) % streams
    }
  }
  tick()
  setInterval(tick, SLICE_MS)
}

// ---- ours ----

type Timings = { coreMs: number; streamsMs: number; reportMs: number }

async function runOurs(): Promise<Timings> {
  // imported here, not above: the bare process must not carry @smap/core in its RSS
  const { serve, SmapInstance } = await import('@smap/core')
  const coreMs = performance.now()
  const inst = new SmapInstance(ROOT, { logger, server: { dataDir: config.dataDir } })
  const streams: Timeseries[] = []
  for (let k = 0; k < config.streams; k++) streams.push(inst.addTimeseries(streamPath(k), { unit: 'V', readingType: 'double' }))
  const streamsMs = performance.now()
  await inst.addReport({ uuid: REPORT_UUID, ReportResource: '/+', ReportDeliveryLocation: config.deliverTo, MaxBuffer: MAX_BUFFER })
  const reportMs = performance.now()
  // serve() starts the instance (delivery included) once it listens, as `smap run` does
  if (config.port !== undefined) await serve(inst, { port: config.port, host: HOST })
  else await inst.start()
  generate(config.streams, config.periodMs, (first, count) => {
    const t = Date.now()
    for (let i = first; i < first + count; i++) (streams[i] as Timeseries).addAt(t, value())
  })
  return { coreMs, streamsMs, reportMs }
}

// ---- bare ----

/** One slice of readings, all stamped `t`, for streams first, first + 1, ...; `taken` of them are in a POST already. */
interface Slice {
  first: number
  t: number
  values: Float64Array
  taken: number
}

type Body = Record<string, { uuid: string; Readings: Array<[number, number]> }>

/** The baseline: durability is one appendFile per slice, delivery one POST at a time of up to POST_READINGS readings. */
class Bare {
  readonly #paths: string[] = []
  readonly #uuids: string[] = []
  readonly #file = join(config.dataDir, 'bare.jsonl')
  readonly #queue: Slice[] = []
  #appending: Promise<void> = Promise.resolve()
  #wake: (() => void) | undefined
  #batches = 0
  acked = 0

  constructor(streams: number) {
    for (let k = 0; k < streams; k++) {
      this.#paths.push(streamPath(k))
      this.#uuids.push(randomUUID()) // any uuid: the receiver only counts readings
    }
  }

  /** Appends the slice as JSON lines, then queues it for the POST loop; appends run one after another, in order. */
  add(first: number, count: number): void {
    const t = Date.now()
    const values = new Float64Array(count)
    const lines: string[] = []
    for (let k = 0; k < count; k++) {
      values[k] = value()
      lines.push(JSON.stringify({ p: this.#paths[first + k], u: this.#uuids[first + k], t, v: values[k] }))
    }
    const text = `${lines.join('\n')}\n`
    this.#appending = this.#appending
      .then(() => appendFile(this.#file, text))
      .then(() => {
        this.#queue.push({ first, t, values, taken: 0 })
        this.#wake?.()
      }, fail)
  }

  /** The oldest queued readings, up to POST_READINGS, in the report shape. */
  #take(): { body: Body; count: number } {
    const body: Body = {}
    let count = 0
    while (count < POST_READINGS && this.#queue.length > 0) {
      const s = this.#queue[0] as Slice
      const n = Math.min(s.values.length - s.taken, POST_READINGS - count)
      for (let k = s.taken; k < s.taken + n; k++) {
        const i = s.first + k
        const path = this.#paths[i] as string
        const entry = (body[path] ??= { uuid: this.#uuids[i] as string, Readings: [] })
        entry.Readings.push([s.t, s.values[k] as number])
      }
      s.taken += n
      count += n
      if (s.taken === s.values.length) this.#queue.shift()
    }
    return { body, count }
  }

  async run(): Promise<void> {
    for (;;) {
      if (this.#queue.length === 0) await new Promise<void>((resolve) => (this.#wake = resolve))
      this.#wake = undefined
      const { body, count } = this.#take()
      const res = await fetch(config.deliverTo, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'Content-Type': 'application/json', 'X-Smap-Batch-Id': `bare:${this.#batches++}` },
      })
      await res.arrayBuffer()
      if (res.status !== 200) throw new Error(`bare: ${config.deliverTo} answered ${res.status}`)
      this.acked += count
    }
  }
}

let bare: Bare | undefined

async function runBare(): Promise<Timings> {
  const b = new Bare(config.streams)
  bare = b
  const streamsMs = performance.now()
  b.run().catch(fail)
  generate(config.streams, config.periodMs, (first, count) => b.add(first, count))
  return { coreMs: loadedMs, streamsMs, reportMs: streamsMs }
}

// ---- marks ----

function mark(): Mark {
  const { user, system } = process.cpuUsage()
  const mem = process.memoryUsage()
  const m: Mark = {
    type: 'mark',
    at: performance.now(),
    cpuMicros: user + system,
    added: generated,
    rssBytes: mem.rss,
    heapUsedBytes: mem.heapUsed,
    maxRssKiB: process.resourceUsage().maxRSS,
    loop: loopStats(loop),
    logged,
    loggedCount,
  }
  if (bare) m.backlog = generated - bare.acked
  loop.reset()
  return m
}

function fail(err: unknown): never {
  console.error(`scale source (${config.kind}): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exit(1)
}

// the parent gone (killed, crashed): so is this process
process.once('disconnect', () => process.exit(0))
process.on('message', (m: ToSource) => {
  if (m.type === 'mark') toParent(mark())
})
try {
  const timings = config.kind === 'ours' ? await runOurs() : await runBare()
  toParent({ type: 'ready', loadedMs, ...timings, readyMs: performance.now() })
} catch (err) {
  fail(err)
}
