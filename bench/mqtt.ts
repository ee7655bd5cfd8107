// Report delivery to an MQTT broker at scale: SOURCES sources of STREAMS streams
// at 1 Hz each publish to one Mosquitto on loopback, a group of CONSUMERS
// consumers shares the stream ($share/bench/PREFIX/#, QoS 1) and counts the
// readings. Per setting, after a warm-up, over a measured window: readings/s
// delivered end to end, whether the sources' backlog (/status backlogReadings)
// stays flat, reading lag at the consumers, the sources' CPU per delivered
// reading, and how many messages the broker dropped (its $SYS counter; the
// broker runs with Mosquitto's default limits, 1,000 messages queued a client).
// Afterwards, what the sources had acknowledged is compared with what arrived. The settings, in the same run: sMAP delivering to the broker; a bare
// mqtt.js publish loop doing the same job (QoS 1, one message a stream a second,
// the same payload shape and user properties) to the same broker and group;
// sMAP delivering the same readings over HTTP to a loopback receiver
// (bench/_report-sink.ts). Prints figures and ratios, asserts nothing.
// Run from the repository root: npx tsx --conditions=@smap/source bench/mqtt.ts
//
// Each source, each consumer and the HTTP receiver run in their own process
// (this file again, with a role in argv[2]); this process only directs them.
import type { ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { SmapInstance, type Logger } from '@smap/core'
// mqtt is a dependency of @smap/core, not of the repository root, so bench/ reaches it through core's node_modules
import mqtt from 'mqtt'
import type { IPublishPacket, MqttClient } from 'mqtt'
import { findMosquitto, startBroker, type Broker } from '../packages/core/test/_mosquitto.js'
import { nextMessage, startChild, type FromSink, type ToSink } from './_report-ipc.js'
import { formatRate, formatRatio } from './_stats.js'

const SOURCES = 4
const COLLECTIONS = 10
const PER_COLLECTION = 100
const STREAMS = COLLECTIONS * PER_COLLECTION
const CONSUMERS = 2
const GROUP = 'bench'
const PREFIX = 'bench'
/** Readings are added in slices this often, so that each stream gets one a second. */
const SLICE_MS = 100
const WARMUP_MS = 3000
const WINDOW_MS = 10_000
/** Backlog samples during the window, one a second. */
const SAMPLE_MS = 1000
/** How long the sources may take to deliver what they hold once adding stops. */
const DRAIN_MS = 10_000
const READY_MS = 60_000
/** Mosquitto's count of messages it dropped (a full queue or inflight window of a client), published every sys_interval. */
const DROPPED_TOPIC = '$SYS/broker/publish/messages/dropped'
const ASK_MS = 10_000

type Kind = 'mqtt' | 'http' | 'bare'
const NAMES: Record<Kind, string> = { mqtt: 'sMAP -> MQTT', bare: 'bare mqtt.js loop', http: 'sMAP -> HTTP' }

// ---- messages between this process and its children ----

type ToChild = { type: 'sample' } | { type: 'quiesce' } | { type: 'stop' }

interface SourceSample {
  type: 'sample'
  cpuMicros: number
  added: number
  delivered: number
  backlog: number
  state: string
  lastError: string | null
  logged: string[]
  /** The longest event loop delay since the previous sample, ms. */
  loopMaxMs: number
}

interface ConsumerSample {
  type: 'sample'
  cpuMicros: number
  messages: number
  readings: number
  duplicates: number
  /** Reading lag (receipt time minus reading time, ms) since the previous sample. */
  lag: { p50: number; p99: number; max: number; n: number }
}

type FromSource = { type: 'ready' } | SourceSample | { type: 'quiet' } | { type: 'stopped' }
type FromConsumer = { type: 'ready' } | ConsumerSample | { type: 'stopped' }

const paths: readonly string[] = Array.from({ length: STREAMS }, (_, i) => `/dev${Math.floor(i / PER_COLLECTION)}/s${i % PER_COLLECTION}`)

function cpuMicros(): number {
  const { user, system } = process.cpuUsage()
  return user + system
}

/** The longest event loop delay since the last call, ms. */
function loopWatch(): () => number {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  return () => {
    const max = h.max / 1e6
    h.reset()
    return max
  }
}

function send(m: FromSource | FromConsumer): void {
  process.send?.(m)
}

/** In a child: calls `handle` for each message from this process; the parent gone, the child is too. */
function listen(handle: (m: ToChild) => void | Promise<void>): void {
  process.once('disconnect', () => process.exit(0))
  process.on('message', (m: ToChild) => {
    Promise.resolve(handle(m)).catch((err: unknown) => {
      console.error(`${process.argv[2]} ${process.pid}: ${err instanceof Error ? err.message : String(err)}`)
      process.exit(1)
    })
  })
}

/** Calls `each` for STREAMS / (1000 / SLICE_MS) streams every SLICE_MS, round robin: one reading a stream a second. */
function addEverySlice(each: (stream: number, time: number, value: number) => void): () => void {
  const perSlice = STREAMS / (1000 / SLICE_MS)
  let next = 0
  const timer = setInterval(() => {
    const now = Date.now()
    for (let k = 0; k < perSlice; k++) {
      each(next, now, Math.round(Math.random() * 10_000) / 100)
      next = next + 1 === STREAMS ? 0 : next + 1
    }
  }, SLICE_MS)
  return () => clearInterval(timer)
}

// ---- a source: sMAP (to the broker or to HTTP) ----

async function runSmapSource(root: string, location: string, dataDir: string): Promise<void> {
  const logged: string[] = []
  const logger: Logger = {
    info: () => {},
    warn: (message) => void logged.push(`warning: ${message}`),
    error: (message, err) => void logged.push(`error: ${message}${err instanceof Error ? `: ${err.message}` : ''}`),
  }
  const loopMax = loopWatch()
  const inst = new SmapInstance(root, { logger, server: { dataDir } })
  for (const p of paths) inst.addTimeseries(p, { unit: 'V', readingType: 'double' })
  const { uuid } = await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: location })
  await inst.start()
  const stopAdding = addEverySlice((s, t, v) => inst.add(paths[s] as string, t, v))
  const sample = async (): Promise<SourceSample> => {
    const c = (await inst.status()).reports[uuid]?.channels[0]
    if (!c) throw new Error(`report ${uuid} has no channel`)
    return { type: 'sample', cpuMicros: cpuMicros(), added: c.added, delivered: c.delivered, backlog: c.backlogReadings, state: c.state, lastError: c.lastError?.message ?? null, logged: logged.splice(0), loopMaxMs: loopMax() }
  }
  listen(async (m) => {
    if (m.type === 'sample') send(await sample())
    else if (m.type === 'quiesce') {
      stopAdding()
      await inst.flush()
      send({ type: 'quiet' })
    } else if (m.type === 'stop') {
      stopAdding()
      await inst.stop()
      process.send?.({ type: 'stopped' } satisfies FromSource, () => process.exit(0))
    }
  })
  send({ type: 'ready' })
}

// ---- a source: the bare publish loop ----

async function runBareSource(root: string, broker: string): Promise<void> {
  const loopMax = loopWatch()
  const client = await mqtt.connectAsync(broker, { protocolVersion: 5, clean: true, reconnectPeriod: 1000 })
  const uuids = paths.map(() => randomUUID())
  const topics = paths.map((p) => `${PREFIX}/${root}${p}`)
  let added = 0
  let delivered = 0
  let slice = 0
  let part = 0
  let batch = ''
  let lastError: string | null = null
  const stopAdding = addEverySlice((s, t, v) => {
    // one batch id a slice (a slice starts at a multiple of its size), one part a message, as sMAP sends them
    if (s % (STREAMS / (1000 / SLICE_MS)) === 0) {
      batch = `${root}:${slice++}`
      part = 0
    }
    const path = paths[s] as string
    const payload = JSON.stringify({ [path]: { uuid: uuids[s], Readings: [[t, v]] } })
    added++
    client.publish(topics[s] as string, payload, { qos: 1, properties: { userProperties: { 'smap-batch': batch, 'smap-part': String(part++) } } }, (err) => {
      if (err) lastError = err.message
      else delivered++
    })
  })
  listen(async (m) => {
    if (m.type === 'sample') {
      send({ type: 'sample', cpuMicros: cpuMicros(), added, delivered, backlog: added - delivered, state: client.connected ? 'connected' : 'disconnected', lastError, logged: [], loopMaxMs: loopMax() })
    } else if (m.type === 'quiesce') {
      stopAdding()
      send({ type: 'quiet' })
    } else if (m.type === 'stop') {
      stopAdding()
      await client.endAsync()
      process.send?.({ type: 'stopped' } satisfies FromSource, () => process.exit(0))
    }
  })
  send({ type: 'ready' })
}

// ---- a consumer of the group ----

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN
}

async function runConsumer(broker: string, filter: string): Promise<void> {
  let messages = 0
  let readings = 0
  let duplicates = 0
  let lags: number[] = []
  const seen = new Set<string>()
  const client: MqttClient = await mqtt.connectAsync(broker, { protocolVersion: 5, clean: true, reconnectPeriod: 1000 })
  const meta = `${PREFIX}/meta/`
  client.on('message', (topic: string, payload: Buffer, packet: IPublishPacket) => {
    messages++
    if (topic.startsWith(meta)) return // retained full objects: no readings
    const props = packet.properties?.userProperties ?? {}
    const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v)
    const key = `${one(props['smap-batch']) ?? ''}/${one(props['smap-part']) ?? ''}/${topic}`
    if (seen.has(key)) {
      duplicates++
      return
    }
    seen.add(key)
    if (seen.size > 100_000) seen.delete(seen.values().next().value as string)
    const now = Date.now()
    const body = JSON.parse(payload.toString('utf8')) as Record<string, { Readings?: Array<[number, number]> }>
    for (const k in body) {
      const r = body[k]?.Readings
      if (!Array.isArray(r)) continue
      readings += r.length
      for (const reading of r) lags.push(now - reading[0])
    }
  })
  const granted = await client.subscribeAsync(filter, { qos: 1 })
  const code = granted[0]?.qos ?? 0x80
  if (code >= 0x80) throw new Error(`the broker refused the subscription to ${filter} (reason ${code})`)
  listen(async (m) => {
    if (m.type === 'sample') {
      const sorted = lags.sort((a, b) => a - b)
      lags = []
      send({ type: 'sample', cpuMicros: cpuMicros(), messages, readings, duplicates, lag: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? Number.NaN, n: sorted.length } })
    } else if (m.type === 'stop') {
      await client.endAsync()
      process.send?.({ type: 'stopped' } satisfies FromConsumer, () => process.exit(0))
    }
  })
  send({ type: 'ready' })
}

// ---- this process: the run ----

const children = new Set<ChildProcess>()
const tempDirs: string[] = []

function spawn(args: string[]): ChildProcess {
  const child = startChild('./mqtt.ts', args)
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'smap-bench-mqtt-'))
  tempDirs.push(dir)
  return dir
}

/** Sends `m` to `child` and waits for its reply of type `reply`. */
function ask<M extends { type: string }, T extends M['type']>(child: ChildProcess, m: ToChild | ToSink, reply: T, what: string, timeoutMs = ASK_MS): Promise<Extract<M, { type: T }>> {
  const answer = nextMessage<M, T>(child, reply, timeoutMs, what)
  child.send(m)
  return answer
}

/** Asks a child to stop and waits for it to exit (killed after 10 s). */
async function stopChild(child: ChildProcess, what: string): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.send({ type: 'stop' } satisfies ToChild)
  await Promise.race([exited, sleep(10_000)])
  if (child.exitCode === null && child.signalCode === null) {
    console.error(`  ${what} did not stop within 10 s; killed`)
    child.kill()
  }
}

class Consumers {
  private constructor(readonly children: ChildProcess[]) {}

  static async start(broker: string, filter: string): Promise<Consumers> {
    const cs = Array.from({ length: CONSUMERS }, () => spawn(['consumer', broker, filter]))
    await Promise.all(cs.map((c, i) => nextMessage<FromConsumer, 'ready'>(c, 'ready', READY_MS, `consumer ${i + 1}`)))
    return new Consumers(cs)
  }

  sample(): Promise<ConsumerSample[]> {
    return Promise.all(this.children.map((c, i) => ask<FromConsumer, 'sample'>(c, { type: 'sample' }, 'sample', `consumer ${i + 1}`)))
  }
}

/** The broker's dropped-message counter, as it last published it (at most a second old). */
class DropWatch {
  value = 0
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic: string, payload: Buffer) => {
      if (topic === DROPPED_TOPIC) this.value = Number(payload.toString('utf8'))
    })
  }

  static async start(broker: string): Promise<DropWatch> {
    const client = await mqtt.connectAsync(broker, { protocolVersion: 5, clean: true })
    const w = new DropWatch(client)
    await client.subscribeAsync(DROPPED_TOPIC, { qos: 0 })
    return w
  }
}

class HttpSink {
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
  ) {}

  static async start(): Promise<HttpSink> {
    const child = startChild('./_report-sink.ts')
    children.add(child)
    child.once('exit', () => children.delete(child))
    const { url } = await nextMessage<FromSink, 'ready'>(child, 'ready', READY_MS, 'the HTTP receiver')
    return new HttpSink(child, `${url}/add`)
  }

  async counts(): Promise<{ readings: number; duplicates: number; cpuMicros: number }> {
    return ask<FromSink, 'counts'>(this.child, { type: 'counts' }, 'counts', 'the HTTP receiver')
  }
}

/** What the far end (consumers, or the HTTP receiver) has counted so far. */
interface FarEnd {
  readings: number
  duplicates: number
  cpuMicros: number
  lag?: ConsumerSample['lag'][]
}

interface Phase {
  kind: Kind
  windowMs: number
  endToEnd: number
  added: number
  delivered: number
  cpuMicros: number
  farCpuMicros: number
  backlog: number[]
  lag: ConsumerSample['lag'][]
  totalDelivered: number
  totalReceived: number
  duplicates: number
  drainMs: number | null
  states: string[]
  errors: string[]
  /** The sources' longest event loop stall, ms: from their start to the window, and in it. */
  loopMax: { warmup: number; window: number }
  /** Messages the broker dropped: from the sources' start to the window, in it, and after it. */
  dropped: { warmup: number; window: number; after: number }
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0)

async function phase(kind: Kind, broker: Broker, consumers: Consumers, sink: HttpSink, drops: DropWatch): Promise<Phase> {
  const far = async (): Promise<FarEnd> => {
    if (kind === 'http') return sink.counts()
    const s = await consumers.sample()
    return { readings: sum(s.map((x) => x.readings)), duplicates: sum(s.map((x) => x.duplicates)), cpuMicros: sum(s.map((x) => x.cpuMicros)), lag: s.map((x) => x.lag) }
  }
  const errors = new Set<string>()
  const sources: ChildProcess[] = []
  for (let i = 0; i < SOURCES; i++) {
    const root = randomUUID()
    const args = kind === 'bare' ? ['bare', root, broker.url] : [kind, root, kind === 'mqtt' ? `${broker.url}/${PREFIX}` : sink.url, await tempDir()]
    sources.push(spawn(['source', ...args]))
  }
  const loopMax = { warmup: 0, window: 0 }
  /** `stage`: where what the sources logged since the last sample (and their longest event loop stall) happened. */
  const sampleSources = async (stage: 'warm-up' | 'window' | 'drain'): Promise<SourceSample[]> => {
    const s = await Promise.all(sources.map((c, i) => ask<FromSource, 'sample'>(c, { type: 'sample' }, 'sample', `${NAMES[kind]} source ${i + 1}`)))
    for (const x of s) for (const e of [...x.logged, ...(x.lastError === null ? [] : [`last delivery error: ${x.lastError}`])]) errors.add(`(${stage}) ${e}`)
    const key = stage === 'warm-up' ? 'warmup' : 'window'
    if (stage !== 'drain') loopMax[key] = Math.max(loopMax[key], ...s.map((x) => x.loopMaxMs))
    return s
  }
  const backlogOf = (s: readonly SourceSample[]): number => sum(s.map((x) => x.backlog))
  try {
    const before = await far()
    const d0 = drops.value
    await Promise.all(sources.map((c, i) => nextMessage<FromSource, 'ready'>(c, 'ready', READY_MS, `${NAMES[kind]} source ${i + 1}`)))
    await sleep(WARMUP_MS)
    const t0 = performance.now()
    const [s0, f0] = await Promise.all([sampleSources('warm-up'), far()])
    const d1 = drops.value
    const backlog = [backlogOf(s0)]
    for (let t = SAMPLE_MS; t < WINDOW_MS; t += SAMPLE_MS) {
      await sleep(t0 + t - performance.now())
      backlog.push(backlogOf(await sampleSources('window')))
    }
    await sleep(t0 + WINDOW_MS - performance.now())
    const [s1, f1] = await Promise.all([sampleSources('window'), far()])
    const windowMs = performance.now() - t0
    const d2 = drops.value
    backlog.push(backlogOf(s1))
    // stop adding; wait until the sources hold nothing, then compare what they delivered with what arrived
    await Promise.all(sources.map((c, i) => ask<FromSource, 'quiet'>(c, { type: 'quiesce' }, 'quiet', `${NAMES[kind]} source ${i + 1}`)))
    const q0 = performance.now()
    let drainMs: number | null = null
    let last = s1
    while (performance.now() - q0 < DRAIN_MS) {
      last = await sampleSources('drain')
      if (last.every((x) => x.backlog === 0)) {
        drainMs = performance.now() - q0
        break
      }
      await sleep(100)
    }
    // what was acknowledged by the broker reaches the consumers a moment later
    let after = await far()
    const totalDelivered = sum(last.map((x) => x.delivered))
    for (let k = 0; k < 20 && after.readings - before.readings < totalDelivered; k++) {
      await sleep(100)
      after = await far()
    }
    await sleep(1200) // the broker's counter is published once a second
    return {
      kind,
      windowMs,
      endToEnd: ((f1.readings - f0.readings) / windowMs) * 1000,
      added: sum(s1.map((x) => x.added)) - sum(s0.map((x) => x.added)),
      delivered: sum(s1.map((x) => x.delivered)) - sum(s0.map((x) => x.delivered)),
      cpuMicros: sum(s1.map((x) => x.cpuMicros)) - sum(s0.map((x) => x.cpuMicros)),
      farCpuMicros: f1.cpuMicros - f0.cpuMicros,
      backlog,
      lag: f1.lag ?? [],
      totalDelivered,
      totalReceived: after.readings - before.readings,
      duplicates: after.duplicates - before.duplicates,
      drainMs,
      states: last.map((x) => x.state),
      errors: [...errors],
      loopMax,
      dropped: { warmup: d1 - d0, window: d2 - d1, after: drops.value - d2 },
    }
  } finally {
    await Promise.all(sources.map((c, i) => stopChild(c, `${NAMES[kind]} source ${i + 1}`)))
  }
}

const count = (n: number): string => Math.round(n).toLocaleString('en-US')
const perSec = (n: number, ms: number): number => (n / ms) * 1000

function describe(p: Phase): string[] {
  const secs = p.windowMs / 1000
  const lines: string[] = []
  // the backlog's trend over the window (least squares, readings/s): flat if it would add up to less than half a second of readings
  const n = p.backlog.length
  const xs = p.backlog.map((_, i) => (i * SAMPLE_MS) / 1000)
  const mx = sum(xs) / n
  const my = sum(p.backlog) / n
  const slope = sum(xs.map((x, i) => (x - mx) * ((p.backlog[i] as number) - my))) / sum(xs.map((x) => (x - mx) ** 2))
  const flat = slope * secs < (SOURCES * STREAMS) / 2 ? `flat (trend ${slope >= 0 ? '+' : ''}${count(slope)} readings/s)` : `GROWING by ${count(slope)} readings/s`
  lines.push(
    `  ${NAMES[p.kind].padEnd(18)} ${formatRate(p.endToEnd)} readings/s end to end; sources added ${formatRate(p.added / secs)}/s, ` +
      `had acknowledged ${formatRate(p.delivered / secs)}/s`,
  )
  lines.push(`    backlog (all sources, readings) each second: ${p.backlog.map(count).join(' ')} -> ${flat}`)
  if (p.lag.length > 0) {
    const lag = p.lag.map((l) => `p50 ${l.p50.toFixed(0)} ms, p99 ${l.p99.toFixed(0)} ms, max ${l.max.toFixed(0)} ms (${count(l.n)} readings)`)
    lines.push(`    lag at the consumers (receipt minus reading time): ${lag.join('; ')}`)
  }
  const farName = p.kind === 'http' ? 'the HTTP receiver' : `the ${CONSUMERS} consumers together`
  lines.push(
    `    source CPU ${(p.cpuMicros / p.delivered).toFixed(1)} µs per delivered reading (${((p.cpuMicros / 1000 / p.windowMs) * 100 / SOURCES).toFixed(1)}% of a core per source); ` +
      `${farName} ${(p.farCpuMicros / Math.max(1, p.delivered)).toFixed(1)} µs/reading; ` +
      `sources' longest event loop stall ${p.loopMax.window.toFixed(0)} ms in the window (${p.loopMax.warmup.toFixed(0)} ms from start to the window)`,
  )
  const lost = p.totalDelivered - p.totalReceived
  const books = lost === 0 ? 'every one arrived' : lost > 0 ? `${count(lost)} NOT seen at the far end` : `${count(-lost)} more arrived than were acknowledged`
  lines.push(
    `    whole setting: ${count(p.totalDelivered)} readings acknowledged, ${count(p.totalReceived)} counted at the far end (${books}; ${count(p.duplicates)} repeated messages dropped); ` +
      (p.drainMs === null ? `backlog NOT empty ${DRAIN_MS / 1000} s after adding stopped (states ${p.states.join(', ')})` : `backlog empty ${(p.drainMs / 1000).toFixed(2)} s after adding stopped`),
  )
  const d = p.dropped
  if (p.kind !== 'http') lines.push(`    the broker dropped ${count(d.warmup + d.window + d.after)} messages (${DROPPED_TOPIC}, up to 1 s late): ${count(d.warmup)} from the sources' start to the window, ${count(d.window)} in it, ${count(d.after)} after`)
  for (const e of [...new Set(p.errors)].slice(0, 5)) lines.push(`    logged: ${e}`)
  if (new Set(p.errors).size > 5) lines.push(`    ... and ${new Set(p.errors).size - 5} more log lines`)
  return lines
}

async function main(): Promise<void> {
  const found = findMosquitto()
  if (!('path' in found)) throw new Error(found.missing)
  const broker = await startBroker(found.path, await tempDir(), ['sys_interval 1'])
  try {
    const filter = `$share/${GROUP}/${PREFIX}/#`
    const [consumers, sink, drops] = await Promise.all([Consumers.start(broker.url, filter), HttpSink.start(), DropWatch.start(broker.url)])
    console.log(
      `mqtt: ${SOURCES} sources x ${count(STREAMS)} streams at 1 Hz (${count(SOURCES * STREAMS)} readings/s in all) to one Mosquitto on loopback ` +
        `(default limits), consumed at QoS 1 by a group of ${CONSUMERS} (${filter}); per setting ${WARMUP_MS / 1000} s warm-up, ` +
        `${WINDOW_MS / 1000} s measured; every source and consumer in its own process, fresh sources per setting`,
    )
    const results = new Map<Kind, Phase>()
    for (const kind of ['mqtt', 'bare', 'http'] as const) {
      const p = await phase(kind, broker, consumers, sink, drops)
      results.set(kind, p)
      for (const line of describe(p)) console.log(line)
    }
    const m = results.get('mqtt') as Phase
    const b = results.get('bare') as Phase
    const h = results.get('http') as Phase
    const cpu = (p: Phase): number => p.cpuMicros / p.delivered
    const p50 = (p: Phase): number => Math.max(...p.lag.map((l) => l.p50))
    console.log(
      `end to end: sMAP -> MQTT ${formatRate(m.endToEnd)} readings/s, bare loop ${formatRate(b.endToEnd)} readings/s: ratio ${formatRatio(m.endToEnd / b.endToEnd)} ` +
        `(the load is fixed, so ~1x means both keep up); sMAP -> HTTP ${formatRate(h.endToEnd)} readings/s. Lag p50 sMAP ${p50(m).toFixed(0)} ms, bare ${p50(b).toFixed(0)} ms ` +
        `(sMAP adds up to its 100 ms flush interval)`,
    )
    console.log(
      `source CPU per delivered reading: MQTT ${cpu(m).toFixed(1)} µs, HTTP ${cpu(h).toFixed(1)} µs, bare loop ${cpu(b).toFixed(1)} µs; ` +
        `MQTT/HTTP ${formatRatio(cpu(m) / cpu(h))}, MQTT/bare ${formatRatio(cpu(m) / cpu(b))}`,
    )
    console.log(`  (per source per second: MQTT ${((perSec(m.cpuMicros, m.windowMs) / SOURCES) / 1000).toFixed(0)} ms CPU, HTTP ${((perSec(h.cpuMicros, h.windowMs) / SOURCES) / 1000).toFixed(0)} ms, bare ${((perSec(b.cpuMicros, b.windowMs) / SOURCES) / 1000).toFixed(0)} ms)`)
    await Promise.all(consumers.children.map((c, i) => stopChild(c, `consumer ${i + 1}`)))
    await drops.client.endAsync(true)
  } finally {
    await broker.stop()
  }
}

const role = process.argv[2]
if (role === 'source') {
  const [kind, root, location, dataDir] = process.argv.slice(3) as [Kind, string, string, string | undefined]
  await (kind === 'bare' ? runBareSource(root, location) : runSmapSource(root, location, dataDir as string))
} else if (role === 'consumer') {
  await runConsumer(process.argv[3] as string, process.argv[4] as string)
} else {
  const started = performance.now()
  try {
    await main()
    console.log(`(run took ${((performance.now() - started) / 1000).toFixed(0)} s)`)
    process.exitCode = 0
  } catch (err) {
    console.error(`mqtt: ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
  } finally {
    for (const child of children) child.kill()
    for (const dir of tempDirs) await rm(dir, { recursive: true, force: true })
  }
}
