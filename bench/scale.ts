// What a source costs as it grows: N streams (1,000 per collection) at one
// reading a second each, all delivered by one report (default settings) to a
// loopback receiver, against a bare loop fed by the same generator that
// appends each slice to a file and POSTs batches, measured in the same run:
// CPU per delivered reading, RSS, how far delivery falls behind, the longest
// event-loop stall, how fast GET /data/+ and GET /status answer meanwhile, and
// how long the source takes to start. Then the add-to-arrival latency of one
// stream at 10 readings/s, ours against the bare loop. Prints, asserts nothing.
// Run from the repository root: npx tsx --conditions=@smap/source bench/scale.ts
//   SCALE_SIZES=1000,10000,100000 (default)  the stream counts
//   SCALE_SECONDS=60                         the measuring window, after SCALE_WARMUP_SECONDS=5
//   SCALE_LATENCY=0                          skips the latency section
//   SCALE_SOAK_MINUTES=10                    instead: ours alone, the first of SCALE_SIZES, for that long
//
// Every workload runs in its own process (bench/_scale-source.ts), its
// receiver in another (bench/_report-sink.ts; bench/_scale-latency-sink.ts for
// latency); this process only directs them and times GETs, so that no two
// share an event loop. Ours's CPU and event loop include answering those GETs,
// as a real source's would; the bare loop serves none.
import type { ChildProcess } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { freePort, HOST, nextMessage, now, POST_READINGS, startChild, type FromSink, type SinkCounts } from './_report-ipc.js'
import { MAX_BUFFER, PER_COLLECTION, REPORT_UUID, SLICE_MS, type FromLatencySink, type FromSource, type Mark, type ReadyTimings, type SourceConfig } from './_scale-ipc.js'
import { formatRatio, median } from './_stats.js'

// ---- settings ----

function envNumber(name: string, fallback: number, ok: (n: number) => boolean, rule: string): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!ok(n)) throw new Error(`${name}: expected ${rule}, got "${raw}"`)
  return n
}

/** Stream counts; each must split into whole 100 ms slices (a multiple of 10). */
function sizes(): number[] {
  const raw = process.env.SCALE_SIZES ?? '1000,10000,100000'
  const out = raw.split(',').map((x) => Number(x.trim()))
  for (const n of out) if (!Number.isInteger(n) || n < 10 || n % 10 !== 0) throw new Error(`SCALE_SIZES: expected stream counts that are multiples of 10, comma-separated, got "${raw}"`)
  return out
}

const SIZES = sizes()
const WINDOW_MS = envNumber('SCALE_SECONDS', 60, (n) => n > 0, 'seconds above 0') * 1000
const WARMUP_MS = envNumber('SCALE_WARMUP_SECONDS', 5, (n) => n >= 0, 'seconds, 0 or more') * 1000
const LATENCY = process.env.SCALE_LATENCY !== '0'
const SOAK_MINUTES = envNumber('SCALE_SOAK_MINUTES', 0, (n) => n > 0, 'minutes above 0')

const PERIOD_MS = 1000
const STATUS_EVERY_MS = 500
const DATA_GETS = 5
/** A GET slower than this counts as failed (and the probe moves on). */
const GET_TIMEOUT_MS = 30_000
/** From spawning a source to its first answer, and to its "ready". */
const STARTUP_LIMIT_MS = 120_000
/** On top of the planned time of a phase, before the run is declared broken. */
const SLACK_MS = 120_000
const LATENCY_PERIOD_MS = 100
const LATENCY_WARMUP_MS = 2000
const LATENCY_MS = 20_000
/** How long after the latency window readings may still arrive to be counted. */
const LATENCY_SETTLE_MS = 3000
const SOAK_SAMPLE_MS = 30_000
/** RSS in the soak's last half above this many times its first half counts as growth. */
const SOAK_GROWTH = 1.1
/** Said with every table: the figures are from a small machine others use too. */
const MACHINE = `${cpus().length} cores, shared`

// ---- children and temp dirs, gone on every way out ----

const children = new Set<ChildProcess>()
/** Children being stopped on purpose: their exit is no crash. */
const stopping = new WeakSet<ChildProcess>()
const tempDirs = new Set<string>()

function spawn(file: string, args: string[] = []): ChildProcess {
  const child = startChild(file, args)
  children.add(child)
  child.once('exit', () => children.delete(child))
  // a send to a child that just died emits 'error'; died() below says so more clearly
  child.on('error', () => {})
  return child
}

/** Rejects as soon as `child` exits without stopChild(): a crash ends the phase at once, not at its next timeout. */
function died(child: ChildProcess, what: string): Promise<never> {
  const p = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) => {
      if (!stopping.has(child)) reject(new Error(`${what} (pid ${child.pid}) exited during the run (code ${code}, signal ${signal}); its own error, if any, is above`))
    })
  })
  p.catch(() => {}) // raced by guarded(); never left unhandled
  return p
}

/** `work`, cut short by the death of any of the `watched` children. */
function guarded<T>(work: () => Promise<T>, ...watched: Array<[ChildProcess, string]>): Promise<T> {
  return Promise.race([work(), ...watched.map(([child, what]) => died(child, what))])
}

/** A message to a child, or an error naming it if it is gone. */
function tell(child: ChildProcess, m: { type: string }, what: string): void {
  if (!child.connected) throw new Error(`${what} (pid ${child.pid}) is gone (code ${child.exitCode}, signal ${child.signalCode})`)
  child.send(m)
}

async function stopChild(child: ChildProcess): Promise<void> {
  stopping.add(child)
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  // SIGKILL: a source whose loop is saturated still dies at once; its data dir is thrown away anyway
  child.kill('SIGKILL')
  await exited
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'smap-bench-scale-'))
  tempDirs.add(dir)
  return dir
}

async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

/** The last resort (an error, a signal, process.exit): synchronous, so it runs in 'exit' too. */
function cleanUpNow(): void {
  for (const child of children) child.kill('SIGKILL')
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true })
}

process.once('exit', cleanUpNow)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`scale: ${signal}, stopping the children`)
    process.exit(1)
  })
}

/** `work`, or an error saying which phase hung, after `ms`. */
async function within<T>(what: string, ms: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${(ms / 1000).toFixed(0)} s, far longer than planned; a child or the receiver is stuck, or the machine is overloaded`)), ms)
  })
  try {
    return await Promise.race([work(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

// ---- the processes ----

/** bench/_report-sink.ts: parses each POST, counts readings, answers 200. Counts are since it started; the runs take differences. */
class Receiver {
  readonly child: ChildProcess
  readonly url: string
  private constructor(child: ChildProcess, url: string) {
    this.child = child
    this.url = url
  }

  static async start(): Promise<Receiver> {
    const child = spawn('./_report-sink.ts')
    const { url } = await nextMessage<FromSink, 'ready'>(child, 'ready', 30_000, 'receiver')
    return new Receiver(child, `${url}/add`)
  }

  counts(): Promise<SinkCounts> {
    const reply = nextMessage<FromSink, 'counts'>(this.child, 'counts', 30_000, 'receiver')
    tell(this.child, { type: 'counts' }, 'receiver')
    return reply
  }
}

class Source {
  readonly child: ChildProcess
  readonly kind: SourceConfig['kind']
  readonly spawnedAt = performance.now()
  readonly #ready: Promise<Extract<FromSource, { type: 'ready' }>>
  constructor(config: SourceConfig) {
    this.kind = config.kind
    this.child = spawn('./_scale-source.ts', [JSON.stringify(config)])
    this.#ready = nextMessage<FromSource, 'ready'>(this.child, 'ready', STARTUP_LIMIT_MS, `${config.kind} source`)
    this.#ready.catch(() => {}) // awaited by ready(); a failure before then must not go unhandled
  }

  ready(): Promise<ReadyTimings> {
    return this.#ready
  }

  /** Its figures now, and its event loop since the last mark. */
  mark(): Promise<Mark> {
    const reply = nextMessage<FromSource, 'mark'>(this.child, 'mark', 60_000, `${this.kind} source`)
    tell(this.child, { type: 'mark' }, `${this.kind} source`)
    return reply
  }
}

/** Ms from spawning `source` to its first 200 to GET /, polling every 10 ms. */
async function firstAnswer(source: Source, url: string): Promise<number> {
  const deadline = source.spawnedAt + STARTUP_LIMIT_MS
  while (performance.now() < deadline) {
    if (source.child.exitCode !== null) throw new Error(`${source.kind} source exited (code ${source.child.exitCode}) before answering GET /`)
    try {
      const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(GET_TIMEOUT_MS) })
      await res.arrayBuffer()
      if (res.status === 200) return performance.now() - source.spawnedAt
    } catch {
      // not listening yet
    }
    await sleep(10)
  }
  throw new Error(`${source.kind} source: no answer to GET / within ${STARTUP_LIMIT_MS / 1000} s of spawning it`)
}

// ---- GETs from this process during the window ----

/** Times GETs of one URL, one at a time, starting one every `everyMs` (the first after `firstAfterMs`) until stopped. */
class Probe {
  readonly times: number[] = []
  bytes = 0
  failures = 0
  lastFailure = ''
  #running = true
  #wake: (() => void) | undefined
  readonly #done: Promise<void>
  constructor(url: string, everyMs: number, firstAfterMs: number) {
    this.#done = this.#run(url, everyMs, firstAfterMs)
  }

  async #run(url: string, everyMs: number, firstAfterMs: number): Promise<void> {
    await this.#pause(firstAfterMs)
    while (this.#running) {
      const start = performance.now()
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(GET_TIMEOUT_MS) })
        const body = await res.arrayBuffer()
        if (res.status !== 200) throw new Error(`status ${res.status}`)
        this.times.push(performance.now() - start)
        this.bytes = body.byteLength
      } catch (err) {
        this.failures++
        this.lastFailure = err instanceof Error ? err.message : String(err)
      }
      await this.#pause(everyMs - (performance.now() - start))
    }
  }

  /** A sleep that stop() cuts short. */
  #pause(ms: number): Promise<void> {
    if (!this.#running || ms <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms)
      function done(): void {
        clearTimeout(timer)
        resolve()
      }
      this.#wake = done
    })
  }

  /** Stops; resolves once a GET under way has finished. */
  stop(): Promise<void> {
    this.#running = false
    this.#wake?.()
    return this.#done
  }
}

interface ChannelLine {
  backlogReadings: number
  pending: number
  delivered: number
  dropped: { total: number }
}

/** Ours's backlog as GET /status shows it: what is in the outbox plus what is still pending in memory. */
async function statusChannel(url: string): Promise<ChannelLine> {
  const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(GET_TIMEOUT_MS) })
  if (res.status !== 200) throw new Error(`GET /status: ${res.status} ${await res.text()}`)
  const body = (await res.json()) as { reports: Record<string, { channels: ChannelLine[] }> }
  const c = body.reports[REPORT_UUID]?.channels[0]
  if (!c) throw new Error(`GET /status shows no channel for report ${REPORT_UUID}`)
  return c
}

// ---- one workload at one size ----

type Kind = SourceConfig['kind']

interface Startup {
  /** From spawning to the first 200 to GET /. */
  firstAnswerMs: number
  /** The child's own account, ms since its process started. */
  child: ReadyTimings
}

interface Run {
  kind: Kind
  streams: number
  windowMs: number
  added: number
  delivered: number
  backlog: number
  dropped: number
  cpuMicros: number
  receiverCpuMicros: number
  duplicates: number
  end: Mark
  startup?: Startup
  data?: Probe
  status?: Probe
}

/** One source process at `streams` streams, with a receiver of its own: start-up, warm-up, then the window's figures. */
async function measure(kind: Kind, streams: number): Promise<Run> {
  const receiver = await Receiver.start()
  const dataDir = await tempDir()
  const port = kind === 'ours' ? await freePort() : undefined
  const source = new Source({ kind, streams, periodMs: PERIOD_MS, value: 'random', deliverTo: receiver.url, dataDir, port })
  try {
    return await guarded(() => startAndWatch(source, receiver, `http://${HOST}:${port}`, streams), [source.child, `${kind} source`], [receiver.child, 'receiver'])
  } finally {
    await stopChild(source.child)
    await stopChild(receiver.child)
    await removeDir(dataDir)
  }
}

async function startAndWatch(source: Source, receiver: Receiver, url: string, streams: number): Promise<Run> {
  const ours = source.kind === 'ours'
  const [firstAnswerMs, child] = await Promise.all([ours ? firstAnswer(source, url) : Promise.resolve(Number.NaN), source.ready()])
  await sleep(WARMUP_MS)
  const [m0, r0] = await Promise.all([source.mark(), receiver.counts()])
  const status = ours ? new Probe(`${url}/status`, STATUS_EVERY_MS, 0) : undefined
  const data = ours ? new Probe(`${url}/data/+`, WINDOW_MS / DATA_GETS, WINDOW_MS / DATA_GETS / 2) : undefined
  try {
    await sleep(WINDOW_MS)
    const [m1, r1, channel] = await Promise.all([source.mark(), receiver.counts(), ours ? statusChannel(url) : undefined])
    const run: Run = {
      kind: source.kind,
      streams,
      windowMs: m1.at - m0.at,
      added: m1.added - m0.added,
      delivered: r1.readings - r0.readings,
      backlog: channel ? channel.backlogReadings + channel.pending : (m1.backlog ?? Number.NaN),
      dropped: channel?.dropped.total ?? 0,
      cpuMicros: m1.cpuMicros - m0.cpuMicros,
      receiverCpuMicros: r1.cpuMicros - r0.cpuMicros,
      duplicates: r1.duplicates,
      end: m1,
    }
    if (ours) Object.assign(run, { startup: { firstAnswerMs, child }, data, status })
    return run
  } finally {
    await Promise.all([status?.stop(), data?.stop()])
  }
}

// ---- printing ----

const count = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-')
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(0)
const ms = (x: number): string => (Number.isFinite(x) ? (x >= 100 ? x.toFixed(0) : x.toFixed(1)) : '-')
const secs = (x: number): string => (x / 1000).toFixed(2)

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN
}

/** Columns padded to their widest cell: the first left-aligned, the others right-aligned. */
function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows]
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)))
  const line = (r: string[]): string => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] as number) : cell.padStart(widths[i] as number))).join('  ').trimEnd()
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  return [line(head), rule, ...rows.map(line)].map((l) => `  ${l}`).join('\n')
}

const cpuPerReading = (r: Run): number => r.cpuMicros / r.delivered
const share = (micros: number, r: Run): string => `${((micros / 1000 / r.windowMs) * 100).toFixed(0)}%`

function describeProbe(p: Probe | undefined, pick: (times: number[]) => string): string {
  if (!p) return ''
  const failed = p.failures > 0 ? ` ${p.failures} failed` : ''
  return p.times.length === 0 ? `none answered${failed}` : `${pick(p.times)}${failed}`
}

function startupCell(r: Run): string {
  if (!r.startup) return ''
  const c = r.startup.child
  return `${secs(c.loadedMs)} / ${secs(c.coreMs - c.loadedMs)} / ${secs(c.streamsMs - c.coreMs)} / ${secs(c.reportMs - c.streamsMs)} / ${secs(c.readyMs - c.reportMs)}`
}

function scaleRows(runs: Run[]): string[][] {
  const row = (label: string, cell: (r: Run) => string): string[] => [label, ...runs.map(cell)]
  const bareOf = (r: Run): Run | undefined => runs.find((b) => b.kind === 'bare' && b.streams === r.streams)
  const ratio = (r: Run, f: (x: Run) => number): string => {
    const b = bareOf(r)
    return r.kind === 'ours' && b ? formatRatio(f(r) / f(b)) : ''
  }
  return [
    row('readings added in the window', (r) => count(r.added)),
    row('delivered in the window', (r) => count(r.delivered)),
    row('  % of added', (r) => `${((r.delivered / r.added) * 100).toFixed(0)}%`),
    row('backlog at the end', (r) => count(r.backlog)),
    row('source CPU, share of a core', (r) => share(r.cpuMicros, r)),
    row('source CPU µs / delivered reading', (r) => cpuPerReading(r).toFixed(2)),
    row('  ours / bare', (r) => ratio(r, cpuPerReading)),
    row('RSS at the end, MiB', (r) => mib(r.end.rssBytes)),
    row('  ours / bare', (r) => ratio(r, (x) => x.end.rssBytes)),
    row('RSS peak, MiB', (r) => mib(r.end.maxRssKiB * 1024)),
    row('heap used at the end, MiB', (r) => mib(r.end.heapUsedBytes)),
    row('event loop stall max / p99, ms', (r) => `${ms(r.end.loop.maxMs)} / ${ms(r.end.loop.p99Ms)}`),
    row('GET /data/+ median / max, ms', (r) => describeProbe(r.data, (t) => `${ms(median(t))} / ${ms(Math.max(...t))}`)),
    row('GET /data/+ body, MiB (GETs)', (r) => (r.data ? `${(r.data.bytes / 2 ** 20).toFixed(1)} (${r.data.times.length})` : '')),
    row('GET /status p50 / p90, ms (GETs)', (r) => describeProbe(r.status, (t) => `${ms(percentile(t, 50))} / ${ms(percentile(t, 90))} (${t.length})`)),
    row('start-up to first GET / answer, s', (r) => (r.startup ? secs(r.startup.firstAnswerMs) : '')),
    row('  node+tsx / core / streams / report / serve', startupCell),
    row('receiver CPU, share of a core', (r) => share(r.receiverCpuMicros, r)),
  ]
}

function printScale(runs: Run[]): void {
  console.log(`\nscale (window ${(WINDOW_MS / 1000).toFixed(0)} s after a ${(WARMUP_MS / 1000).toFixed(0)} s warm-up; ${MACHINE}):`)
  console.log(table(['', ...runs.map((r) => `${count(r.streams)} ${r.kind}`)], scaleRows(runs)))
  console.log(
    '  start-up: from spawning the process to its first answer to GET /; then as the child saw it (s since its process started): node and tsx loaded, ' +
      '@smap/core imported (its TypeScript sources, compiled by tsx: a built `smap run` loads faster), the streams added, the report added, serve() resolved',
  )
  for (const r of runs) {
    if (r.dropped > 0) console.log(`  ${count(r.streams)} ${r.kind}: ${count(r.dropped)} readings dropped (MaxBuffer)`)
    if (r.duplicates > 0) console.log(`  ${count(r.streams)} ${r.kind}: ${r.duplicates} POSTs repeated a batch already acknowledged`)
    if (r.end.loggedCount > 0) console.log(`  ${count(r.streams)} ${r.kind} logged ${r.end.loggedCount} warnings or errors, first: ${r.end.logged.join(' | ')}`)
  }
  console.log('\nin the issue\'s form:')
  const rows = SIZES.map((n) => {
    const o = runs.find((r) => r.streams === n && r.kind === 'ours') as Run
    const b = runs.find((r) => r.streams === n && r.kind === 'bare') as Run
    return [
      count(n),
      `${cpuPerReading(o).toFixed(2)} vs ${cpuPerReading(b).toFixed(2)} (${formatRatio(cpuPerReading(o) / cpuPerReading(b))})`,
      `${mib(o.end.rssBytes)} vs ${mib(b.end.rssBytes)} MiB (${formatRatio(o.end.rssBytes / b.end.rssBytes)})`,
      `${((o.delivered / o.added) * 100).toFixed(0)}% vs ${((b.delivered / b.added) * 100).toFixed(0)}%`,
      `${count(o.backlog)} vs ${count(b.backlog)}`,
    ]
  })
  console.log(table(['streams', 'CPU µs/reading, ours vs bare', `RSS after ${(WINDOW_MS / 1000).toFixed(0)} s, ours vs bare`, 'delivered', 'backlog at end'], rows))
}

// ---- latency at a low rate ----

interface Latency {
  kind: Kind
  timed: number
  expected: number
  p50: number
  p99: number
  max: number
}

/** One stream, one reading every 100 ms: add → parsed at the receiver, for the readings added in the window. */
async function latency(kind: Kind): Promise<Latency> {
  const sink = spawn('./_scale-latency-sink.ts')
  const dataDir = await tempDir()
  try {
    const { url } = await nextMessage<FromLatencySink, 'ready'>(sink, 'ready', 30_000, 'latency receiver')
    const source = new Source({ kind, streams: 1, periodMs: LATENCY_PERIOD_MS, value: 'addTime', deliverTo: `${url}/add`, dataDir })
    try {
      return await guarded(() => timeArrivals(kind, source, sink), [source.child, `${kind} source`], [sink, 'latency receiver'])
    } finally {
      await stopChild(source.child)
    }
  } finally {
    await stopChild(sink)
    await removeDir(dataDir)
  }
}

/** The add → arrival times of the readings added in the window, once the late ones have had time to arrive. */
async function timeArrivals(kind: Kind, source: Source, sink: ChildProcess): Promise<Latency> {
  await source.ready()
  const from = now() + LATENCY_WARMUP_MS
  await sleep(LATENCY_WARMUP_MS + LATENCY_MS)
  const to = now()
  await sleep(LATENCY_SETTLE_MS)
  const reply = nextMessage<FromLatencySink, 'arrivals'>(sink, 'arrivals', 30_000, 'latency receiver')
  tell(sink, { type: 'arrivals' }, 'latency receiver')
  const times = (await reply).pairs.filter(([added]) => added >= from && added < to).map(([, took]) => took)
  return { kind, timed: times.length, expected: LATENCY_MS / LATENCY_PERIOD_MS, p50: percentile(times, 50), p99: percentile(times, 99), max: Math.max(...times) }
}

function printLatency(ours: Latency, bare: Latency): void {
  console.log(`\nlatency, one stream at one reading every ${LATENCY_PERIOD_MS} ms, add → arrival at the receiver, ${(LATENCY_MS / 1000).toFixed(0)} s after a ${(LATENCY_WARMUP_MS / 1000).toFixed(0)} s warm-up (${MACHINE}):`)
  const row = (l: Latency): string[] => [l.kind, `${l.timed} of ${l.expected}`, ms(l.p50), ms(l.p99), ms(l.max)]
  console.log(
    table(
      ['', 'readings timed', 'p50 ms', 'p99 ms', 'max ms'],
      [row(ours), row(bare), ['ours / bare', '', formatRatio(ours.p50 / bare.p50), formatRatio(ours.p99 / bare.p99), formatRatio(ours.max / bare.max)]],
    ),
  )
  console.log('  ours: report defaults (MinPeriod 0) and the default FlushInterval; bare: appendFile, then POST at once, one in flight')
}

// ---- soak ----

/** Ours alone at `streams` for SOAK_MINUTES: memory, backlog and delivery every 30 s. */
async function soak(streams: number): Promise<void> {
  const receiver = await Receiver.start()
  const dataDir = await tempDir()
  const port = await freePort()
  const source = new Source({ kind: 'ours', streams, periodMs: PERIOD_MS, value: 'random', deliverTo: receiver.url, dataDir, port })
  try {
    await guarded(() => sampleSoak(source, receiver, `http://${HOST}:${port}`, streams), [source.child, 'ours source'], [receiver.child, 'receiver'])
  } finally {
    await stopChild(source.child)
    await stopChild(receiver.child)
    await removeDir(dataDir)
  }
}

async function sampleSoak(source: Source, receiver: Receiver, url: string, streams: number): Promise<void> {
  await source.ready()
  // wide enough for the figures to come: each row is printed as it comes, padded like the header
  const head = ['min', ...['added', 'delivered', 'in the last 30 s', 'backlog', 'RSS MiB', 'heap MiB', 'loop max ms'].map((h) => h.padStart(12))]
  console.log(`\nsoak, ours at ${count(streams)} streams for ${SOAK_MINUTES} min (${MACHINE}):`)
  console.log(table(head, []))
  const start = performance.now()
  let last = await receiver.counts()
  const rss: number[] = []
  for (let t = SOAK_SAMPLE_MS; t <= SOAK_MINUTES * 60_000; t += SOAK_SAMPLE_MS) {
    await sleep(start + t - performance.now())
    const [m, r, c] = await Promise.all([source.mark(), receiver.counts(), statusChannel(url)])
    rss.push(m.rssBytes)
    const cells = [(t / 60_000).toFixed(1), count(m.added), count(r.readings), count(r.readings - last.readings), count(c.backlogReadings + c.pending), mib(m.rssBytes), mib(m.heapUsedBytes), ms(m.loop.maxMs)]
    console.log(table(head, [cells]).split('\n')[2])
    last = r
  }
  const half = Math.floor(rss.length / 2)
  const first = median(rss.slice(0, Math.max(1, half)))
  const second = median(rss.slice(half))
  const grew = second > first * SOAK_GROWTH
  console.log(`  RSS, median of the first half ${mib(first)} MiB, of the last half ${mib(second)} MiB (${formatRatio(second / first)}): ${grew ? `GREW (more than ${SOAK_GROWTH}x)` : `did not grow (within ${SOAK_GROWTH}x)`}`)
}

// ---- the run ----

function describeRun(): void {
  console.log(
    `scale: N streams (${count(PER_COLLECTION)} per collection) at one reading a second each, added in ${SLICE_MS} ms slices (a late tick makes up what it missed), ` +
      `delivered to a loopback receiver (bare node:http, own process, parses each POST and counts its readings)`,
  )
  console.log(
    `  ours: SmapInstance, one report of /+ (MinPeriod and Format default, MaxBuffer ${count(MAX_BUFFER)}), outbox in a temp dir, served over HTTP; ` +
      `this process GETs /status every ${STATUS_EVERY_MS} ms and /data/+ ${DATA_GETS} times in the window`,
  )
  console.log(`  bare: the same generator; each slice appended as JSON lines (appendFile), then POSTed in the report shape, up to ${count(POST_READINGS)} readings a POST, one in flight`)
  console.log(`  each workload in its own process, in turn; CPU and RSS are the source process's. machine: ${MACHINE}; Node ${process.version}`)
}

async function main(): Promise<void> {
  describeRun()
  if (SOAK_MINUTES > 0) {
    const n = SIZES[0] as number
    if (SIZES.length > 1) console.log(`  soak: at ${count(n)} streams only (the first of SCALE_SIZES)`)
    await within(`soak at ${count(n)} streams`, SOAK_MINUTES * 60_000 + STARTUP_LIMIT_MS + SLACK_MS, () => soak(n))
    return
  }
  const runs: Run[] = []
  for (const n of SIZES) {
    for (const kind of ['ours', 'bare'] as const) {
      const started = performance.now()
      const run = await within(`${count(n)} streams, ${kind}`, STARTUP_LIMIT_MS + WARMUP_MS + WINDOW_MS + SLACK_MS, () => measure(kind, n))
      runs.push(run)
      console.log(`  measured ${count(n)} streams, ${kind} (${((performance.now() - started) / 1000).toFixed(0)} s)`)
    }
  }
  printScale(runs)
  if (!LATENCY) return
  const planned = STARTUP_LIMIT_MS + LATENCY_WARMUP_MS + LATENCY_MS + LATENCY_SETTLE_MS + SLACK_MS
  const ours = await within('latency, ours', planned, () => latency('ours'))
  const bare = await within('latency, bare', planned, () => latency('bare'))
  printLatency(ours, bare)
}

try {
  await main()
  process.exitCode = 0
} catch (err) {
  console.error(`scale: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  for (const child of [...children]) await stopChild(child)
  for (const dir of [...tempDirs]) await removeDir(dir)
}
// a probe or timer of a phase that failed must not keep the process alive
process.exit()
