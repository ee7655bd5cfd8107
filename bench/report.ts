// Readings/s from inst.add to acknowledged at a loopback sink (100 streams, one
// subscriber), against a bare loop that appends the same readings to a file
// and POSTs them in batches, measured in the same run; then a restart with a
// million undelivered readings: how long they take to drain, how long the
// event loop stalls while they are buffered, loaded and drained, how fast GETs
// are meanwhile, and peak RSS.
// Run from the repository root: npx tsx --conditions=@smap/source bench/report.ts
//
// Every workload runs in its own process (bench/_report-subject.ts), the sink
// in another (bench/_report-sink.ts); this process only directs them and times
// GETs, so that no two share an event loop.
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  FLUSH_MS,
  freePort,
  HOST,
  MAX_BUFFER,
  nextMessage,
  POST_READINGS,
  startChild,
  STREAMS,
  type FromSink,
  type FromSubject,
  type LoopStats,
  type Role,
  type SubjectResult,
  type ToSink,
  type ToSubject,
} from './_report-ipc.js'
import { formatRate, formatRatio, median } from './_stats.js'

const READINGS = 1_000_000
const WARMUP_READINGS = 200_000
/** Throughput rounds (REPORT_ROUNDS=1 for a quick look). */
const ROUNDS = Number(process.env.REPORT_ROUNDS ?? 5)
const RESTART_READINGS = 1_000_000
const TARGET_RATE = 200_000
const TARGET_RATIO = 0.4
const TARGET_DRAIN_MS = 10_000
const TARGET_STALL_MS = 100
const GET_PATH = '/data/instrument0/sensor0'
const PROBE_GAP_MS = 10
/** Longest any one phase may take before the run is declared broken. */
const PHASE_TIMEOUT_MS = 120_000

const children = new Set<ChildProcess>()
const tempDirs: string[] = []

function spawn(file: string, args: string[] = []): ChildProcess {
  const child = startChild(file, args)
  children.add(child)
  child.once('exit', () => children.delete(child))
  return child
}

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'smap-bench-report-'))
  tempDirs.push(dir)
  return dir
}

// ---- the sink ----

class Sink {
  readonly child: ChildProcess
  readonly url: string
  private constructor(child: ChildProcess, url: string) {
    this.child = child
    this.url = url
  }

  static async start(): Promise<Sink> {
    const child = spawn('./_report-sink.ts')
    const { url } = await nextMessage<FromSink, 'ready'>(child, 'ready', 30_000, 'sink')
    return new Sink(child, `${url}/add`)
  }

  /** Counts from zero again; resolves when `expect` readings have been acknowledged. */
  expect(readings: number, what: string): Promise<Extract<FromSink, { type: 'reached' }>> {
    const reached = nextMessage<FromSink, 'reached'>(this.child, 'reached', PHASE_TIMEOUT_MS, `sink, waiting for ${readings} readings (${what})`)
    this.child.send({ type: 'reset', expect: readings } satisfies ToSink)
    return reached
  }

  async counts(): Promise<Extract<FromSink, { type: 'counts' }>> {
    const reply = nextMessage<FromSink, 'counts'>(this.child, 'counts', 30_000, 'sink')
    this.child.send({ type: 'counts' } satisfies ToSink)
    return reply
  }
}

// ---- subjects ----

class Subject {
  readonly role: Role
  readonly child: ChildProcess
  constructor(role: Role) {
    this.role = role
    this.child = spawn('./_report-subject.ts', [role])
  }

  send(m: ToSubject): void {
    this.child.send(m)
  }

  next<T extends FromSubject['type']>(type: T, timeoutMs = PHASE_TIMEOUT_MS): Promise<Extract<FromSubject, { type: T }>> {
    return nextMessage<FromSubject, T>(this.child, type, timeoutMs, `${this.role} subject`)
  }

  /** Asks for its result, then ends the process. */
  async finish(): Promise<SubjectResult> {
    const result = this.next('result')
    this.send({ type: 'finish' })
    const r = await result
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve))
      await Promise.race([exited, sleep(10_000)])
      this.child.kill()
    }
    for (const line of r.logged) console.error(`  [${this.role}] ${line}`)
    return r
  }
}

/** Sum of 0..n-1: what the sink's value sum must be once n readings arrived exactly once. */
function expectedSum(n: number): number {
  return (n * (n - 1)) / 2
}

function checkCounts(c: { readings: number; valueSum: number; duplicates: number }, n: number, what: string): void {
  if (c.readings !== n || c.valueSum !== expectedSum(n)) {
    throw new Error(`${what}: the sink counted ${c.readings} readings with values summing to ${c.valueSum}, expected ${n} summing to ${expectedSum(n)}; readings were lost or doubled`)
  }
  if (c.duplicates > 0) console.log(`  ${what}: ${c.duplicates} POSTs repeated a batch the sink had already acknowledged (counted once)`)
}

interface Round {
  rate: number
  elapsedMs: number
  addMs: number
  result: SubjectResult
  sinkCpu: number
}

/** One subject process sends `readings` to the sink; readings/s from its first add to the sink's last acknowledgement. */
async function throughput(role: 'smap' | 'baseline', sink: Sink, readings: number): Promise<Round> {
  const dataDir = await tempDir()
  const subject = new Subject(role)
  subject.send({ type: 'setup', deliverTo: sink.url, readings, dataDir })
  await subject.next('ready', 30_000)
  const sinkCpuBefore = (await sink.counts()).cpuMicros
  const reached = sink.expect(readings, role)
  const added = subject.next('added')
  subject.send({ type: 'go' })
  const [a, r] = await Promise.all([added, reached])
  checkCounts(r, readings, role)
  const result = await subject.finish()
  await rm(dataDir, { recursive: true, force: true })
  const elapsedMs = r.at - a.t0
  return { rate: (readings / elapsedMs) * 1000, elapsedMs, addMs: a.at - a.t0, result, sinkCpu: r.cpuMicros - sinkCpuBefore }
}

// ---- GETs from this process while a subject holds its backlog ----

class GetProbe {
  #running = true
  #samples: number[] = []
  #done: Promise<void>
  failures = 0
  constructor(url: string) {
    this.#done = this.#run(url)
  }

  async #run(url: string): Promise<void> {
    let up = false
    while (this.#running) {
      const start = performance.now()
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(30_000) })
        await res.arrayBuffer()
        if (res.status !== 200) throw new Error(`status ${res.status}`)
        up = true
        this.#samples.push(performance.now() - start)
      } catch {
        if (up) this.failures++ // before the first answer the server is not listening yet
      }
      await sleep(PROBE_GAP_MS)
    }
  }

  /** Latencies (ms) since the last call. */
  take(): number[] {
    const s = this.#samples
    this.#samples = []
    return s
  }

  async stop(): Promise<number[]> {
    this.#running = false
    await this.#done
    return this.take()
  }
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? Number.NaN
}

function describeGets(xs: readonly number[]): string {
  if (xs.length === 0) return 'no GET answered'
  return `${xs.length} GETs, p50 ${percentile(xs, 50).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`
}

function describeLoop(l: LoopStats): string {
  return `max ${l.maxMs.toFixed(0)} ms, p99 ${l.p99Ms.toFixed(0)} ms`
}

interface Restart {
  fill: { addMs: number; flushMs: number; loop: LoopStats; gets: number[]; backlog: number }
  held: { heldMs: number; loop: LoopStats; gets: number[]; backlog: number }
  fillResult: SubjectResult
  load: { ms: number; loop: LoopStats; gets: number[] }
  drain: { ms: number; loop: LoopStats; gets: number[] }
  drainResult: SubjectResult
  getFailures: number
}

/** Fills an outbox with the subscriber down, stops; starts a new instance on it with the sink up and times the drain. */
async function restart(sink: Sink, readings: number): Promise<Restart> {
  const dataDir = await tempDir()
  const deadUrl = `http://${HOST}:${await freePort()}/add`

  const filler = new Subject('fill')
  filler.send({ type: 'setup', deliverTo: deadUrl, readings, dataDir })
  const fillUrl = (await filler.next('ready', 30_000)).url as string
  const fillProbe = new GetProbe(fillUrl + GET_PATH)
  const filled = filler.next('filled')
  filler.send({ type: 'go' })
  const f = await filled
  const fillGets = fillProbe.take()
  const h = await filler.next('held')
  const heldGets = await fillProbe.stop()
  const fillResult = await filler.finish()
  if (f.backlog !== readings || (fillResult.dropped ?? 0) !== 0) {
    throw new Error(`fill: the outbox holds ${f.backlog} readings (${fillResult.dropped} dropped), expected ${readings}`)
  }

  const drainer = new Subject('drain')
  drainer.send({ type: 'setup', deliverTo: sink.url, readings, dataDir })
  const drainUrl = (await drainer.next('ready', 30_000)).url as string
  const drainProbe = new GetProbe(drainUrl + GET_PATH)
  const reached = sink.expect(readings, 'restart drain')
  const started = drainer.next('started')
  drainer.send({ type: 'go' })
  const s = await started
  const loadGets = drainProbe.take()
  const r = await reached
  const drainGets = await drainProbe.stop()
  checkCounts(r, readings, 'restart drain')
  const drainResult = await drainer.finish()
  await rm(dataDir, { recursive: true, force: true })
  return {
    fill: { addMs: f.addMs, flushMs: f.flushMs, loop: f.loop, gets: fillGets, backlog: f.backlog },
    held: { heldMs: h.heldMs, loop: h.loop, gets: heldGets, backlog: h.backlog },
    fillResult,
    load: { ms: s.at - s.t0, loop: s.loop, gets: loadGets },
    drain: { ms: r.at - s.t0, loop: drainResult.loop, gets: drainGets },
    drainResult,
    getFailures: fillProbe.failures + drainProbe.failures,
  }
}

// ---- the run ----

const mib = (kib: number): string => `${(kib / 1024).toFixed(0)} MiB`
const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`
const verdict = (ok: boolean): string => (ok ? 'met' : 'NOT met')
const count = (n: number): string => n.toLocaleString('en-US')

async function main(): Promise<void> {
  const sink = await Sink.start()
  console.log(
    `report: inst.add to acknowledged by a loopback sink (bare node:http, own process); ${STREAMS} streams, one subscriber ` +
      `(MaxBuffer ${count(MAX_BUFFER)}/stream), flushInterval ${FLUSH_MS} ms; baseline: a bare loop appending the same readings to a file ` +
      `and POSTing ${count(POST_READINGS)} per request, one in flight. ${count(READINGS)} readings per round, ${ROUNDS} interleaved rounds after a ` +
      `${count(WARMUP_READINGS)}-reading warm-up, each in fresh processes`,
  )
  await throughput('baseline', sink, WARMUP_READINGS)
  await throughput('smap', sink, WARMUP_READINGS)

  const smap: Round[] = []
  const base: Round[] = []
  const ratios: number[] = []
  for (let i = 0; i < ROUNDS; i++) {
    const order: Array<['smap' | 'baseline', Round[]]> = i % 2 === 0 ? [['smap', smap], ['baseline', base]] : [['baseline', base], ['smap', smap]]
    for (const [role, rounds] of order) rounds.push(await throughput(role, sink, READINGS))
    const s = smap[i] as Round
    const b = base[i] as Round
    ratios.push(s.rate / b.rate)
    const line = (name: string, x: Round): string =>
      `${name} ${formatRate(x.rate)} readings/s (${seconds(x.elapsedMs)}, adds done at ${seconds(x.addMs)}; loop ${describeLoop(x.result.loop)}; ` +
      `RSS ${mib(x.result.maxRssKiB)}; sink CPU ${((x.sinkCpu / 1000 / x.elapsedMs) * 100).toFixed(0)}%)`
    console.log(`  round ${i + 1}: ${line('sMAP', s)}; ${line('baseline', b)}; ratio ${formatRatio(s.rate / b.rate)}`)
  }

  const rs = await restart(sink, RESTART_READINGS)
  console.log(
    `  restart, fill: ${count(RESTART_READINGS)} readings added in ${seconds(rs.fill.addMs)}, flushed ${seconds(rs.fill.flushMs)} later, subscriber down; ` +
      `loop ${describeLoop(rs.fill.loop)}; ${describeGets(rs.fill.gets)}`,
  )
  console.log(`  restart, buffered (${count(rs.held.backlog)} readings, ${seconds(rs.held.heldMs)}): loop ${describeLoop(rs.held.loop)}; ${describeGets(rs.held.gets)}; stop took ${seconds(rs.fillResult.stopMs ?? 0)}`)
  console.log(`  restart, load (new instance, serve() until inst.start() resolved, ${count(rs.drainResult.restored ?? 0)} restored): ${seconds(rs.load.ms)}; loop ${describeLoop(rs.load.loop)}; ${describeGets(rs.load.gets)}`)
  console.log(`  restart, drain to the sink: all acknowledged ${seconds(rs.drain.ms)} after the new instance was made; loop ${describeLoop(rs.drain.loop)}; ${describeGets(rs.drain.gets)}`)
  if (rs.getFailures > 0) console.log(`  ${rs.getFailures} GETs failed after the server first answered`)

  const rate = median(smap.map((x) => x.rate))
  const ratio = median(ratios)
  const backlogStalls = [rs.held.loop, rs.load.loop, rs.drain.loop]
  const worstStall = Math.max(...backlogStalls.map((l) => l.maxMs))
  console.log(
    `sMAP: ${formatRate(rate)} readings/s (target >= ${formatRate(TARGET_RATE)}: ${verdict(rate >= TARGET_RATE)}); ` +
      `baseline: ${formatRate(median(base.map((x) => x.rate)))} readings/s; ratio ${formatRatio(ratio, TARGET_RATIO)}`,
  )
  console.log(`restart drain of ${count(RESTART_READINGS)} readings: ${seconds(rs.drain.ms)} (target < ${seconds(TARGET_DRAIN_MS)}): ${verdict(rs.drain.ms < TARGET_DRAIN_MS)}`)
  const getMax = Math.max(...[rs.held.gets, rs.load.gets, rs.drain.gets].flat())
  console.log(
    `event loop, longest stall with ${count(RESTART_READINGS)} readings buffered, loading or draining: ${worstStall.toFixed(0)} ms ` +
      `(target < ${TARGET_STALL_MS} ms): ${verdict(worstStall < TARGET_STALL_MS)}; slowest GET meanwhile ${getMax.toFixed(0)} ms. ` +
      `Outside the target: while adding them at full speed ${rs.fill.loop.maxMs.toFixed(0)} ms (slowest GET ${Math.max(...rs.fill.gets).toFixed(0)} ms), ` +
      `in the throughput rounds up to ${Math.max(...smap.map((x) => x.result.loop.maxMs)).toFixed(0)} ms`,
  )
  console.log(
    `peak RSS: sMAP ${mib(Math.max(...smap.map((x) => x.result.maxRssKiB)))}, baseline ${mib(Math.max(...base.map((x) => x.result.maxRssKiB)))} ` +
      `(${count(READINGS)} readings per round); fill ${mib(rs.fillResult.maxRssKiB)}, restart and drain ${mib(rs.drainResult.maxRssKiB)} (${count(RESTART_READINGS)} readings)`,
  )
}

try {
  await main()
  process.exitCode = 0
} catch (err) {
  console.error(`report: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 1
} finally {
  for (const child of children) child.kill()
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true })
}
