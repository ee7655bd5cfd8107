// A fault soak of `smap run`: whether a source loses, doubles or leaks
// anything while its receiver flaps, it is killed with kill -9 and its disk
// fills up, all interleaved, for SOAK_MINUTES (default 10).
// Run from the repository root (as root, for the tmpfs): npx tsx bench/soak.ts
// SOAK_MINUTES=2 for a short run (every fault still happens at least twice:
// every period scales with the duration); SOAK_SEED=n replays a schedule;
// SOAK_SKIP=disk,kill,receiver leaves those faults out, to tell causes apart
// (the check that every fault happened then fails, as it should).
//
// The CLI is a black box: `node packages/cli/bin/smap.js run CONF --port 0`,
// its DataDir on an 8 MiB tmpfs. It runs a generator driver (written to a temp
// dir): 20 streams, one reading each per 50 ms slot, value = slot number =
// time / 50, journaled on its stdout, so each run's readings are known
// without persisted state. One [report] sends everything (gzip-json) to a
// receiver in this process, which dedupes by (uuid, time). Faults:
// - the receiver cycles up, down (connection refused), up, 503, up, slow
//   (stores at once, answers after 0.5-4.5 s; ReportTimeout is 3 s, so the
//   source should give up on some and send them again: duplicates);
// - kill -9 of the source, restarted with the same config and data dir
//   (one kill aimed into a full disk, one into a receiver outage);
// - a ballast file fills the tmpfs until writes fail (ENOSPC), is topped up
//   while held, then deleted.
// Then the faults stop, the generator stops, delivery drains, and SIGTERM.
//
// Checked: every generated reading arrives, except those within 1 s before a
// kill -9 (in memory, not yet in the outbox), those held in memory because the
// disk was full when a kill -9 came (the /status before it showed the write
// error; they never reached an outbox, and only what did survives a kill -9:
// counted and printed apart), or covered by the source's counted drops
// (`dropped` in /status); a POST is given up at ReportTimeout;
// the books in /status balance; the source drains and stops within 20 s;
// RSS in the last third of the run stays within 1.5x of the first; the data
// dir stays within 4 MiB + 2 x backlogBytes + 1 MiB; no run exits by itself.
// Missing readings are broken down by where they were (a quarantined outbox
// file, memory at a kill -9 per /status `pending`, elsewhere) as evidence.
import { writeFileSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ballast, listTree, mountTmpfs, readingsInSegments, treeBytes, unmount } from './_soak-disk.js'
import { Receiver, type ReceiverMode } from './_soak-receiver.js'
import { BUSY_JS, GENERATOR_JS, Source, type ChannelSample, type Run } from './_soak-source.js'
import { median } from './_stats.js'

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10)
if (!(MINUTES > 0)) throw new Error(`SOAK_MINUTES: expected a number of minutes above 0, got "${process.env.SOAK_MINUTES}"`)
const SEED = Number(process.env.SOAK_SEED ?? Date.now() % 2 ** 31)
const DURATION_MS = MINUTES * 60_000
const SKIP = new Set((process.env.SOAK_SKIP ?? '').split(',').map((x) => x.trim()).filter(Boolean))
for (const x of SKIP) if (!['disk', 'kill', 'receiver'].includes(x)) throw new Error(`SOAK_SKIP: expected some of disk, kill, receiver, got "${x}"`)

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const STREAMS = 20
const PERIOD_MS = 50
const SAMPLE_MS = 2000
/** Receiver cycles of up, down, up, 503, up, slow over the run. */
const RECEIVER_CYCLES = 4
const RECEIVER_CYCLE: ReceiverMode[] = ['up', 'down', 'up', '503', 'up', 'slow']
const PHASE_MS = DURATION_MS / (RECEIVER_CYCLES * RECEIVER_CYCLE.length)
const KILLS = 6
const DISK_CYCLES = 4
const HOLD_MS = DURATION_MS / 20
const REPORT_TIMEOUT_MS = 3000
const SLOW_MS: [number, number] = [500, REPORT_TIMEOUT_MS * 1.5]
/**
 * Per stream: 1.5 receiver phases of readings. One outage or full disk fits
 * (a phase is at most 1.3 phases long, a hold 1.2), so drops are rare and the
 * loss accounting stays sharp; an outage plus retry backoff, or faults on top
 * of each other, can overflow it, and then the source must count its drops.
 */
const MAX_BUFFER = Math.round((PHASE_MS / PERIOD_MS) * 1.5)
/** Readings this close before a kill -9 may still have been in memory. */
const KILL_WINDOW_MS = 1000
const DRAIN_LIMIT_MS = 120_000
const STOP_LIMIT_MS = 20_000
const TMPFS_SIZE = '8m'
const TMPFS_BYTES = 8 * 1024 * 1024
const MiB = 1024 * 1024
const SEGMENT_BYTES = 4 * MiB
const RSS_RATIO = 1.5

// ---- the schedule ----

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface Phase {
  at: number
  ms: number
  mode: ReceiverMode
}
interface Kill {
  at: number
  downMs: number
  aim: string
}
interface DiskCycle {
  at: number
  holdMs: number
}

/** Times are ms from the start of the faults. */
function makeSchedule(random: () => number): { phases: Phase[]; kills: Kill[]; disk: DiskCycle[] } {
  const phases: Phase[] = []
  for (let at = 0, k = 0; at < DURATION_MS; k++) {
    const ms = Math.min(PHASE_MS * (0.7 + 0.6 * random()), DURATION_MS - at)
    phases.push({ at, ms, mode: RECEIVER_CYCLE[k % RECEIVER_CYCLE.length] as ReceiverMode })
    at += ms
  }
  const disk: DiskCycle[] = []
  for (let i = 0; i < DISK_CYCLES; i++) {
    const center = ((i + 0.5) * DURATION_MS) / DISK_CYCLES + (random() - 0.5) * (DURATION_MS / DISK_CYCLES / 4)
    disk.push({ at: center - HOLD_MS / 2, holdMs: HOLD_MS })
  }
  const gap = DURATION_MS / (KILLS + 1)
  const kills: Kill[] = []
  for (let i = 0; i < KILLS; i++) kills.push({ at: (i + 1) * gap + (random() - 0.5) * gap * 0.5, downMs: 200 + random() * 1800, aim: 'at random' })
  // one kill while the disk is full, one while the receiver is down: the restarts must cope
  const nearest = <T extends { at: number }>(xs: T[], at: number): T => xs.reduce((a, b) => (Math.abs(b.at - at) < Math.abs(a.at - at) ? b : a))
  const k1 = kills[1] as Kill
  const hold = nearest(disk, k1.at)
  Object.assign(k1, { at: hold.at + hold.holdMs * (0.3 + 0.4 * random()), aim: SKIP.has('disk') ? 'at random' : 'into a full disk' })
  const k3 = kills[3] as Kill
  const down = nearest(
    phases.filter((p) => p.mode === 'down'),
    k3.at,
  )
  Object.assign(k3, { at: down.at + down.ms * (0.3 + 0.4 * random()), aim: SKIP.has('receiver') ? 'at random' : 'into a receiver outage' })
  kills.sort((a, b) => a.at - b.at)
  for (let i = 1; i < kills.length; i++) {
    const prev = kills[i - 1] as Kill
    const k = kills[i] as Kill
    if (k.at < prev.at + prev.downMs + 3000) k.at = prev.at + prev.downMs + 3000
  }
  return {
    phases: SKIP.has('receiver') ? [] : phases,
    kills: SKIP.has('kill') ? [] : kills.filter((k) => k.at < DURATION_MS),
    disk: SKIP.has('disk') ? [] : disk,
  }
}

// ---- the run ----

const tempDirs: string[] = []
let source: Source | undefined
let receiver: Receiver | undefined
let ballast: Ballast | undefined
let mounted: string | undefined
let cleaning: Promise<void> | undefined
let t0 = Date.now()
/** Aborted at the end of the faults, or by cleanup: the fault loops stop. */
const faults = new AbortController()
/** Aborted when sampling ends, or by cleanup. */
const sampling = new AbortController()

const secs = (ms: number): string => `${(ms / 1000).toFixed(1)} s`
const count = (n: number): string => n.toLocaleString('en-US')
const mib = (bytes: number): string => `${(bytes / MiB).toFixed(2)} MiB`
function log(line: string): void {
  console.error(`[soak +${((Date.now() - t0) / 1000).toFixed(1)}s] ${line}`)
}

/** Resolves after `ms`, or at once with false when `signal` aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(ok)
    }
    const onAbort = (): void => done(false)
    const timer = setTimeout(() => done(true), Math.max(0, ms))
    signal?.addEventListener('abort', onAbort)
  })
}

/** Stops everything this run started; every caller waits for the same cleanup. */
function cleanup(): Promise<void> {
  cleaning ??= cleanupOnce()
  return cleaning
}

async function cleanupOnce(): Promise<void> {
  faults.abort()
  sampling.abort()
  await source?.close()
  await receiver?.stop()
  try {
    ballast?.close()
  } catch {
    // the mount goes next anyway
  }
  if (mounted) {
    const why = unmount(mounted)
    if (why) console.error(`soak: could not unmount ${mounted}: ${why}`)
  }
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true })
}

/**
 * Whether @smap/core has a worker isolation for drivers (an `Isolation` key):
 * in its source, and in the build the CLI runs, so that a key not built yet
 * cannot break the config.
 */
async function hasWorkerIsolation(): Promise<boolean> {
  const core = fileURLToPath(new URL('../packages/core/', import.meta.url))
  const mentions = (text: string): boolean => /\bIsolation\b/.test(text)
  const walk = async (dir: string): Promise<boolean> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name)
      if (e.isDirectory() ? await walk(p) : e.name.endsWith('.ts') && mentions(await readFile(p, 'utf8'))) return true
    }
    return false
  }
  const inSource = await walk(join(core, 'src')).catch(() => false)
  const inBuild = await readFile(join(core, 'dist', 'index.js'), 'utf8').then(mentions, () => false)
  return inSource && inBuild
}

interface Sample {
  t: number
  run: number
  rssKiB: number | undefined
  ch: ChannelSample | undefined
  dirBytes: number | undefined
  statusMs: number | undefined
}

/** added + restored = delivered + dropped + deadLettered + backlog + pending */
function books(ch: ChannelSample): { left: number; right: number } {
  return { left: ch.added + ch.restored, right: ch.delivered + ch.dropped.total + ch.deadLettered + ch.backlogReadings + ch.pending }
}

interface HeldDisk {
  start: number
  end: number | undefined
  filled: number
  enospc: boolean
  writeErrorSeen: boolean
}

async function main(): Promise<boolean> {
  const random = mulberry32(SEED)
  const schedule = makeSchedule(random)
  const dir = await mkdtemp(join(tmpdir(), 'smap-soak-'))
  tempDirs.push(dir)

  // the data dir on a small tmpfs, if this process may mount one
  const mnt = join(dir, 'disk')
  await mkdir(mnt)
  const mountProblem = mountTmpfs(mnt, TMPFS_SIZE)
  if (mountProblem === undefined) {
    mounted = mnt
    ballast = new Ballast(join(mnt, 'ballast'), TMPFS_BYTES)
  }
  const dataDir = join(mnt, 'data')
  const busy = await hasWorkerIsolation()

  receiver = new Receiver({ periodMs: PERIOD_MS, slowMs: SLOW_MS, timeoutMs: REPORT_TIMEOUT_MS, random })
  await receiver.setMode('up')
  const stopFile = join(dir, 'stop-generator')
  writeFileSync(join(dir, 'soak-gen.js'), GENERATOR_JS)
  if (busy) writeFileSync(join(dir, 'soak-busy.js'), BUSY_JS)
  writeFileSync(
    join(dir, 'conf.ini'),
    `[server]\nDataDir = ${dataDir}\nReportTimeout = ${REPORT_TIMEOUT_MS}\nMaxRetryBackoff = 4000\n\n[/]\nuuid = ${ROOT}\n\n[/gen]\ntype = ./soak-gen.js\n\n` +
      (busy ? `[/busy]\ntype = ./soak-busy.js\nIsolation = worker\n\n` : '') +
      `[report 0]\nReportResource = /+\nReportDeliveryLocation = ${receiver.url}\nFormat = gzip-json\nMaxBuffer = ${MAX_BUFFER}\n`,
  )

  console.log(
    `soak: smap run under faults for ${MINUTES} min (seed ${SEED}${SKIP.size ? `; without ${[...SKIP].join(', ')}` : ''}); ${STREAMS} streams x 1 reading per ${PERIOD_MS} ms, one [report] (gzip-json, MaxBuffer ${MAX_BUFFER}, ` +
      `ReportTimeout ${REPORT_TIMEOUT_MS} ms) to a receiver here cycling ${RECEIVER_CYCLE.join('/')} in phases of ~${secs(PHASE_MS)}; ` +
      `kill -9 x${schedule.kills.length}; ` +
      (SKIP.has('disk') ? 'disk full: skipped (SOAK_SKIP)' : mounted ? `disk full x${schedule.disk.length} for ${secs(HOLD_MS)} each on a ${TMPFS_SIZE} tmpfs` : `disk full: skipped (cannot mount a tmpfs: ${mountProblem})`),
  )

  const src = new Source(join(dir, 'conf.ini'), dir, { SOAK_STREAMS: String(STREAMS), SOAK_PERIOD_MS: String(PERIOD_MS), SOAK_GEN_STOP: stopFile }, log)
  source = src
  const unexpected: Run[] = []
  src.onUnexpectedEnd = (run) => {
    unexpected.push(run)
    void src.ensureUp(Date.now() + DURATION_MS + DRAIN_LIMIT_MS)
  }
  t0 = Date.now()
  const first = await src.ensureUp(Date.now() + 60_000)
  if (!first) throw new Error(`the source did not start; its last lines:\n${src.runs.at(-1)?.stderrTail.slice(-20).join('\n')}`)
  await pause(2000)

  // ---- sampling: /status, RSS, the data dir ----
  const samples: Sample[] = []
  let held: HeldDisk | undefined
  const sampleOnce = async (): Promise<Sample | undefined> => {
    const run = src.current
    if (!run?.alive || run.servingAt === undefined) return undefined
    const status = await run.status()
    const rssKiB = await run.rssKiB()
    const dirBytes = status ? await treeBytes(dataDir) : undefined
    const s: Sample = { t: Date.now() - t0, run: run.n, rssKiB, ch: status?.channel, dirBytes, statusMs: status?.ms }
    if (held && s.ch?.writeError) held.writeErrorSeen = true
    samples.push(s)
    return s
  }
  const sampler = (async () => {
    while (await pause(SAMPLE_MS, sampling.signal)) await sampleOnce()
  })()

  // ---- the faults ----
  t0 = Date.now()
  log(`faults start; data dir ${dataDir}`)
  const until = (at: number): Promise<boolean> => pause(t0 + at - Date.now(), faults.signal)
  let downPeriods = 0
  const modeCounts: Record<ReceiverMode, number> = { up: 0, down: 0, '503': 0, slow: 0 }
  const receiverLoop = (async () => {
    for (const p of schedule.phases) {
      if (!(await until(p.at))) break
      await (receiver as Receiver).setMode(p.mode)
      modeCounts[p.mode]++
      if (p.mode === 'down') downPeriods++
      if (p.mode !== 'up') log(`receiver ${p.mode} for ${secs(p.ms)}`)
    }
  })()
  const kills: Array<{ run: Run; aim: string; downMs: number }> = []
  const killLoop = (async () => {
    for (const k of schedule.kills) {
      if (!(await until(k.at))) break
      const run = await src.kill9(async (r) => {
        await r.status()
      })
      if (run) {
        kills.push({ run, aim: k.aim, downMs: k.downMs })
        log(`kill -9 run ${run.n} (pid ${run.pid}, ${k.aim}); down for ${secs(k.downMs)}`)
      }
      await pause(k.downMs)
      await src.ensureUp(Date.now() + DURATION_MS + DRAIN_LIMIT_MS)
    }
  })()
  const diskHolds: HeldDisk[] = []
  const diskLoop = (async () => {
    const b = ballast
    if (!b) return
    for (const c of schedule.disk) {
      if (!(await until(c.at))) break
      const h: HeldDisk = { start: Date.now(), end: undefined, filled: b.fill(), enospc: false, writeErrorSeen: false }
      h.enospc = b.full()
      held = h
      diskHolds.push(h)
      log(`disk full: ballast ${mib(h.filled)}${h.enospc ? ', writes fail with ENOSPC' : ', but a write still succeeds'}`)
      while (Date.now() < t0 + c.at + c.holdMs && (await pause(200, faults.signal))) b.fill()
      b.release()
      h.end = Date.now()
      log(`disk freed after ${secs(h.end - h.start)}`)
    }
  })()
  await pause(DURATION_MS, faults.signal)
  faults.abort()
  await Promise.all([receiverLoop, killLoop, diskLoop])
  const faultsEnd = Date.now()

  // ---- drain ----
  await receiver.setMode('up')
  log('faults stop; receiver up, disk free')
  const last = await src.ensureUp(Date.now() + 60_000)
  if (!last) throw new Error('the source did not come back after the faults stopped')
  writeFileSync(stopFile, '')
  const genStopDeadline = Date.now() + 10_000
  while (!(src.current as Run).genStopped && Date.now() < genStopDeadline) await pause(50)
  let drainMs: number | undefined
  while (Date.now() - faultsEnd < DRAIN_LIMIT_MS) {
    const s = await (src.current as Run).status()
    if (s && (src.current as Run).genStopped && s.channel.backlogReadings === 0 && s.channel.pending === 0) {
      drainMs = Date.now() - faultsEnd
      break
    }
    await pause(250)
  }
  log(drainMs === undefined ? `not drained within ${secs(DRAIN_LIMIT_MS)}` : `drained ${secs(drainMs)} after the faults stopped`)
  const drained = (await sampleOnce())?.ch
  sampling.abort()
  await sampler
  const finalRun = src.current as Run
  const stop = await src.term(STOP_LIMIT_MS)
  log(`SIGTERM: ${stop?.ms === undefined ? `not gone after ${secs(STOP_LIMIT_MS)}` : `exited in ${secs(stop.ms)}`}, code ${finalRun.exit?.code}, signal ${finalRun.exit?.signal}`)
  for (const run of src.runs) await run.closed

  // what the outboxes set aside as damaged: their readings are not delivered
  const left = await listTree(dataDir)
  const quarantineFiles = left.filter((f) => f.path.includes('/quarantine/'))
  const quarantined = await readingsInSegments(quarantineFiles.map((f) => join(dataDir, f.path)))
  return report({ samples, kills, diskHolds, unexpected, downPeriods, modeCounts, drained, drainMs, stop: stop?.ms, finalRun, busy, left, quarantined })
}

// ---- the books ----

interface Outcome {
  samples: Sample[]
  kills: Array<{ run: Run; aim: string; downMs: number }>
  diskHolds: HeldDisk[]
  unexpected: Run[]
  downPeriods: number
  modeCounts: Record<ReceiverMode, number>
  drained: ChannelSample | undefined
  drainMs: number | undefined
  stop: number | undefined
  finalRun: Run
  busy: boolean
  /** The data dir's files after the last stop. */
  left: Array<{ path: string; bytes: number }>
  /** `PATH SLOT` of the readings in quarantined outbox files. */
  quarantined: Set<string>
}

function report(o: Outcome): boolean {
  const src = source as Source
  const rec = receiver as Receiver
  const runs = src.runs
  const paths = Array.from({ length: STREAMS }, (_, i) => `/gen/s${i}`)
  const checks: Array<[boolean, string]> = []
  const check = (ok: boolean, what: string): void => void checks.push([ok, what])

  // what each run generated, what of it arrived, and why not
  let generated = 0
  let lostAtKill = 0
  let lostAtKillMaxAge = 0
  let gapsAtKill = 0
  let phantoms = 0
  let unexplainedBeforeDrops = 0
  let unexplained = 0
  const candidates = new Map<string, number>()
  const evidence: string[] = []
  const lostPerRun = new Map<number, number>()
  const atKillPerRun = new Map<number, { n: number; maxAge: number; quarantined: number }>()
  let gapsOther = 0
  const missing = { quarantined: 0, heldAtKill: 0, other: 0 }
  // readings held in memory because the disk was full when a kill -9 came: they never reached an
  // outbox, and only what reached one survives a kill -9 (the README's promise); counted apart
  let lostHeldOnFullDisk = 0
  for (const p of paths) {
    const got = rec.slots.get(p) ?? new Set<number>()
    let matched = 0
    for (const run of runs) {
      const killed = run.end === 'kill -9' || run.end === 'exited by itself' || run.end === 'did not start'
      const windowFrom = killed ? (run.endedAt as number) - KILL_WINDOW_MS : Number.POSITIVE_INFINITY
      // what the /status just before the kill said was still in memory: the newest `pending` readings
      const pendingAtEnd = killed ? (run.lastStatus?.channel.pending ?? 0) : 0
      const heldFrom = killed ? (Math.floor((run.endedAt as number) / PERIOD_MS) - Math.ceil(pendingAtEnd / STREAMS) - 2) : Number.POSITIVE_INFINITY
      const diskFailingAtKill = killed && Boolean(run.lastStatus?.channel.writeError)
      for (const [a, b] of run.ranges) {
        let gapStart: number | undefined
        let gapExplained = true
        const closeGap = (end: number): void => {
          if (gapStart === undefined) return
          if (gapExplained) gapsAtKill++
          else gapsOther++
          if (!gapExplained && evidence.length < 12) {
            const at = gapStart * PERIOD_MS
            const pre = run.lastStatus?.channel
            evidence.push(
              `${p} run ${run.n}: slots ${gapStart}..${end} (${end - gapStart + 1} readings) at +${secs(at - t0)}, ${run.endedAt === undefined ? '' : `${secs((run.endedAt as number) - at)} before the run ended (${run.end}); `}` +
                `receiver ${modeAt(rec.modes, at)}, disk ${diskAt(o.diskHolds, at)}; last /status of the run: pending ${pre?.pending}, backlog ${pre?.backlogReadings}, dropped ${pre?.dropped.total}, writeError ${pre?.writeError ?? 'none'}`,
            )
          }
          gapStart = undefined
        }
        for (let s = a; s <= b; s++) {
          generated++
          if (got.has(s)) {
            matched++
            closeGap(s - 1)
            continue
          }
          const atKill = s * PERIOD_MS >= windowFrom
          if (!atKill && diskFailingAtKill && s >= heldFrom) {
            lostHeldOnFullDisk++
            closeGap(s - 1)
            continue
          }
          if (atKill) {
            lostAtKill++
            const age = (run.endedAt as number) - s * PERIOD_MS
            lostAtKillMaxAge = Math.max(lostAtKillMaxAge, age)
            const k = atKillPerRun.get(run.n) ?? { n: 0, maxAge: 0, quarantined: 0 }
            atKillPerRun.set(run.n, { n: k.n + 1, maxAge: Math.max(k.maxAge, age), quarantined: k.quarantined + (o.quarantined.has(`${p} ${s}`) ? 1 : 0) })
          } else {
            candidates.set(p, (candidates.get(p) ?? 0) + 1)
            lostPerRun.set(run.n, (lostPerRun.get(run.n) ?? 0) + 1)
            if (o.quarantined.has(`${p} ${s}`)) missing.quarantined++
            else if (s >= heldFrom) missing.heldAtKill++
            else missing.other++
          }
          if (gapStart === undefined) {
            gapStart = s
            gapExplained = atKill
          } else if (!atKill) gapExplained = false
        }
        closeGap(b)
      }
    }
    phantoms += got.size - matched
  }
  for (const p of rec.slots.keys()) if (!paths.includes(p) && !p.startsWith('/busy/')) phantoms += (rec.slots.get(p) as Set<number>).size

  // the source's own count of what it dropped, per run (the last /status before its end)
  let droppedTotal = 0
  const droppedPerStream = new Map<string, number>()
  for (const run of runs) {
    const ch = run.lastStatus?.channel
    if (!ch) continue
    droppedTotal += ch.dropped.total
    for (const [p, n] of Object.entries(ch.dropped.perStream)) droppedPerStream.set(p, (droppedPerStream.get(p) ?? 0) + n)
  }
  let perStreamDrops = 0
  for (const p of paths) {
    const d = droppedPerStream.get(p) ?? 0
    perStreamDrops += d
    const left = Math.max(0, (candidates.get(p) ?? 0) - d)
    unexplainedBeforeDrops += candidates.get(p) ?? 0
    unexplained += left
  }
  unexplained = Math.max(0, unexplained - Math.max(0, droppedTotal - perStreamDrops))

  // ---- print ----
  console.log(`runs of the source: ${runs.length}`)
  for (const run of runs) {
    const first = run.firstStatus?.channel
    const lastCh = run.lastStatus?.channel
    const lived = run.endedAt !== undefined ? secs(run.endedAt - run.startedAt) : '?'
    console.log(
      `  run ${run.n}: ${run.end ?? 'running'} after ${lived}; started serving in ${run.servingAt ? secs(run.servingAt - run.startedAt) : '-'}; ` +
        `restored ${first?.restored ?? '-'}; last /status: added ${lastCh?.added ?? '-'}, delivered ${lastCh?.delivered ?? '-'}, backlog ${lastCh?.backlogReadings ?? '-'}, pending ${lastCh?.pending ?? '-'}, ` +
        `dropped ${lastCh?.dropped.total ?? '-'}, quarantined ${lastCh?.quarantined.length ?? '-'}${lastCh?.writeError ? `, writeError "${lastCh.writeError}"` : ''}; ` +
        `lost beyond the kill window ${lostPerRun.get(run.n) ?? 0}`,
    )
  }
  for (const k of o.kills) {
    const ch = k.run.lastStatus?.channel
    const w = atKillPerRun.get(k.run.n)
    console.log(
      `  kill -9 of run ${k.run.n} at +${secs((k.run.endedAt as number) - t0)} (${k.aim}): receiver ${modeAt(rec.modes, k.run.endedAt as number)}, disk ${diskAt(o.diskHolds, k.run.endedAt as number)}; ` +
        `/status just before: pending ${ch?.pending}, backlog ${ch?.backlogReadings}; lost in the last ${KILL_WINDOW_MS} ms: ${w?.n ?? 0}${w ? ` (oldest ${w.maxAge} ms before the kill${w.quarantined ? `; ${w.quarantined} of them were in the outbox, in files quarantined later` : ''})` : ''}`,
    )
  }
  const setAside = new Map<string, string>()
  for (const run of runs) for (const q of run.lastStatus?.channel.quarantined ?? []) setAside.set(q.file + (q.kept ?? ''), `run ${run.n}: ${q.file.replace(/.*\/outbox\//, 'outbox/')} -> ${q.kept?.replace(/.*\/outbox\//, 'outbox/') ?? 'left in place'}: ${q.problem}`)
  for (const line of setAside.values()) console.log(`  quarantined at start, ${line}`)

  const restartsFailed = runs.filter((r) => r.end === 'did not start')
  const exitedByItself = o.unexpected.filter((r) => r.end === 'exited by itself')
  for (const r of [...restartsFailed, ...exitedByItself]) {
    console.log(`  run ${r.n} ${r.end} (code ${r.exit?.code}, signal ${r.exit?.signal}); its last lines:\n${r.stderrTail.slice(-12).map((l) => `      ${l}`).join('\n')}`)
  }

  console.log(`readings generated: ${count(generated)} (${STREAMS} streams x ${count(generated / STREAMS)} slots journaled by the generator over ${runs.length} runs)`)
  console.log(`readings received: ${count(rec.distinct)} distinct by (uuid, time); duplicates dropped by dedupe: ${count(rec.duplicates)}; malformed: ${rec.malformedCount}${rec.malformed.length ? ` (${rec.malformed.join('; ')})` : ''}; never generated: ${phantoms}`)
  console.log(`gaps in the streams' sequences: ${count(gapsAtKill + gapsOther)}, ${count(gapsAtKill)} of them wholly within ${KILL_WINDOW_MS} ms before a kill -9`)
  console.log(`lost within ${KILL_WINDOW_MS} ms before a kill -9 (explained): ${count(lostAtKill)} readings, at most ${lostAtKillMaxAge} ms before the kill`)
  console.log(`dropped as counted by the source (dropped.total, summed over runs): ${count(droppedTotal)} (${count(perStreamDrops)} of them in perStream)`)
  console.log(
    `missing outside the kill windows: ${count(unexplainedBeforeDrops)} = in quarantined outbox files ${count(missing.quarantined)} + held in memory at a kill -9 (within the pending count of the /status just before it) ${count(missing.heldAtKill)} + elsewhere ${count(missing.other)}`,
  )
  console.log(
    `lost at a kill -9 while the disk was full (held in memory, within the pending count of the /status just before it, which showed the write error; never on disk): ${count(lostHeldOnFullDisk)}`,
  )
  console.log(`unexplained lost readings: ${count(unexplained)} (missing outside the kill windows and not covered by dropped, per stream)`)
  for (const e of evidence) console.log(`  gap ${e}`)
  console.log(`kills: ${o.kills.length}; restarts that did not start: ${restartsFailed.length}; runs that exited by themselves: ${exitedByItself.length}`)
  if (mounted) {
    const bit = o.diskHolds.filter((h) => h.enospc).length
    console.log(`disk-full cycles: ${o.diskHolds.length} (ENOSPC reached in ${bit}, a writeError seen in /status in ${o.diskHolds.filter((h) => h.writeErrorSeen).length}); largest ballast ${mib(Math.max(0, ...o.diskHolds.map((h) => h.filled)))}`)
  } else console.log('disk-full cycles: skipped (no tmpfs)')
  const a = rec.answered
  console.log(
    `receiver: down periods ${o.downPeriods}, 503 periods ${o.modeCounts['503']}, slow periods ${o.modeCounts.slow}; POSTs ${count(rec.posts)} (200 ${count(a.ok)}, 503 ${count(a.unavailable)}, ` +
      `slow ${count(a.slow)} (stored, then acknowledged after 0.5-4.5 s), acknowledgements the sender was gone for ${a.lost}; without X-Smap-Batch-Id ${rec.withoutBatchId})`,
  )
  const pt = rec.pastTimeout
  console.log(
    `slow answers later than ReportTimeout (${REPORT_TIMEOUT_MS} ms): ${pt.gaveUp + pt.waited}; the source had given up on ${pt.gaveUp} and was still waiting for ${pt.waited}` +
      (pt.waited ? ` (up to ${secs(pt.longestWaitMs)})` : ''),
  )
  console.log(`final drain: ${o.drainMs === undefined ? `NOT drained within ${secs(DRAIN_LIMIT_MS)}` : secs(o.drainMs)} (from the end of the faults to backlogReadings 0 and pending 0)`)
  console.log(`stop on SIGTERM: ${o.stop === undefined ? `NOT within ${secs(STOP_LIMIT_MS)}` : secs(o.stop)}, exit code ${o.finalRun.exit?.code}, signal ${o.finalRun.exit?.signal}`)

  const withCh = o.samples.filter((s) => s.ch !== undefined)
  const unbalanced = withCh.filter((s) => {
    const b = books(s.ch as ChannelSample)
    return b.left !== b.right
  })
  const d = o.drained
  const fb = d ? books(d) : undefined
  if (d && fb) {
    console.log(
      `books at the final sample: added ${count(d.added)} + restored ${count(d.restored)} = ${count(fb.left)}; delivered ${count(d.delivered)} + dropped ${count(d.dropped.total)} + ` +
        `deadLettered ${d.deadLettered} + backlog ${d.backlogReadings} + pending ${d.pending} = ${count(fb.right)}: ${fb.left === fb.right ? 'balanced' : 'NOT balanced'}`,
    )
  } else console.log('books at the final sample: no final /status')
  console.log(`books at every sample: ${withCh.length - unbalanced.length} of ${withCh.length} balanced`)
  for (const s of unbalanced.slice(0, 5)) {
    const b = books(s.ch as ChannelSample)
    console.log(`  +${secs(s.t)} run ${s.run}: ${b.left} vs ${b.right} (${JSON.stringify({ ...s.ch, quarantined: undefined, lastError: undefined, dropped: s.ch?.dropped.total })})`)
  }

  const third = (from: number, to: number): number[] =>
    o.samples.filter((s) => s.t >= from && s.t < to && s.rssKiB !== undefined).map((s) => (s.rssKiB as number) / 1024)
  const early = third(0, DURATION_MS / 3)
  const late = third((2 * DURATION_MS) / 3, DURATION_MS)
  const describe = (xs: number[]): string => (xs.length === 0 ? 'no samples' : `min ${Math.min(...xs).toFixed(0)} / median ${median(xs).toFixed(0)} / max ${Math.max(...xs).toFixed(0)} MiB (${xs.length} samples)`)
  console.log(`RSS first third: ${describe(early)}; last third: ${describe(late)}`)

  const withDisk = withCh.filter((s) => s.dirBytes !== undefined)
  const over = withDisk.filter((s) => (s.dirBytes as number) > SEGMENT_BYTES + 2 * (s.ch as ChannelSample).backlogBytes + MiB)
  const maxOf = (f: (s: Sample) => number): number => Math.max(0, ...withDisk.map(f))
  console.log(
    `disk: data dir max ${mib(maxOf((s) => s.dirBytes as number))}, diskBytes max ${mib(maxOf((s) => (s.ch as ChannelSample).diskBytes))}, backlogBytes max ${mib(maxOf((s) => (s.ch as ChannelSample).backlogBytes))}; ` +
      `max of data dir - backlogBytes ${mib(maxOf((s) => (s.dirBytes as number) - (s.ch as ChannelSample).backlogBytes))}; samples over 4 MiB + 2 x backlogBytes + 1 MiB: ${over.length} of ${withDisk.length}`,
  )
  for (const s of over.slice(0, 5)) console.log(`  +${secs(s.t)} run ${s.run}: data dir ${mib(s.dirBytes as number)}, backlogBytes ${mib((s.ch as ChannelSample).backlogBytes)}, diskBytes ${mib((s.ch as ChannelSample).diskBytes)}`)
  const kept = o.left.filter((f) => f.path.includes('/quarantine/') || f.path.endsWith('~'))
  console.log(
    `data dir after the stop: ${o.left.length} files, ${mib(o.left.reduce((x, f) => x + f.bytes, 0))}; quarantined or half-written: ${kept.length ? kept.map((f) => `${f.path.replace(/.*\/outbox\//, 'outbox/')} (${count(f.bytes)} B)`).join(', ') : 'none'}; ` +
      `readings in quarantined files: ${count(o.quarantined.size)}`,
  )
  const statusMs = o.samples.filter((s) => s.statusMs !== undefined).map((s) => s.statusMs as number)
  const noAnswer = o.samples.filter((s) => s.ch === undefined).length
  console.log(`/status while serving: ${statusMs.length} answered (slowest ${Math.max(0, ...statusMs).toFixed(0)} ms), ${noAnswer} not within 3 s`)
  console.log(o.busy ? 'busy-loop driver in a worker: on (/busy, Isolation = worker)' : 'busy-loop driver in a worker: skipped (Isolation = worker not available)')
  const logged = new Map<string, number>()
  for (const run of runs) for (const [k, n] of run.logged) logged.set(k, (logged.get(k) ?? 0) + n)
  const top = [...logged].sort((x, y) => y[1] - x[1]).slice(0, 10)
  console.log(`source log: ${[...logged.values()].reduce((x, y) => x + y, 0)} warning/error lines${top.length ? ', most frequent:' : ''}`)
  for (const [k, n] of top) console.log(`  ${n} x ${k.length > 400 ? `${k.slice(0, 400)}…` : k}`)

  // ---- checks ----
  check(unexplained === 0, `unexplained lost readings: ${unexplained} (want 0)`)
  check(phantoms === 0 && rec.malformedCount === 0, `readings never generated or malformed: ${phantoms + rec.malformedCount} (want 0)`)
  check(pt.waited === 0 && pt.gaveUp + pt.waited > 0, `POSTs abandoned at ReportTimeout: ${pt.waited} of ${pt.gaveUp + pt.waited} answers later than ${REPORT_TIMEOUT_MS} ms were still awaited (want 0 of at least 1)`)
  check(exitedByItself.length === 0, `runs that exited by themselves: ${exitedByItself.length} (want 0)`)
  check(o.drainMs !== undefined, `drained within ${secs(DRAIN_LIMIT_MS)} after the faults: ${o.drainMs === undefined ? 'no' : secs(o.drainMs)}`)
  check(o.stop !== undefined && o.finalRun.exit?.code === 0, `exits on SIGTERM within ${secs(STOP_LIMIT_MS)} with code 0: ${o.stop === undefined ? 'no' : `${secs(o.stop)}, code ${o.finalRun.exit?.code}`}`)
  check(fb !== undefined && fb.left === fb.right, `books balance at the final sample: ${fb ? `${fb.left} = ${fb.right}` : 'no sample'}`)
  check(unbalanced.length === 0, `books balance at every /status sample: ${unbalanced.length} of ${withCh.length} did not`)
  const rssOk = early.length > 0 && late.length > 0 && median(late) <= RSS_RATIO * median(early)
  check(rssOk, `RSS median, last third within ${RSS_RATIO}x of the first: ${early.length && late.length ? `${median(late).toFixed(0)} vs ${median(early).toFixed(0)} MiB (${(median(late) / median(early)).toFixed(2)}x)` : 'not enough samples'}`)
  check(over.length === 0 && withDisk.length > 0, `data dir within 4 MiB + 2 x backlogBytes + 1 MiB: ${over.length} of ${withDisk.length} samples over`)
  const holdsBit = o.diskHolds.filter((h) => h.enospc && h.writeErrorSeen).length
  const exercised = o.kills.length >= 2 && o.downPeriods >= 2 && o.modeCounts['503'] >= 2 && o.modeCounts.slow >= 2 && (!mounted || holdsBit >= 2)
  check(
    exercised,
    `every fault at least twice: kills ${o.kills.length}, receiver down ${o.downPeriods} / 503 ${o.modeCounts['503']} / slow ${o.modeCounts.slow}, ` +
      (mounted ? `disk full with a writeError seen ${holdsBit}` : 'disk full skipped'),
  )
  if (o.busy) check(noAnswer === 0, `with a busy-looping driver in a worker, /status answered every poll within 3 s: ${noAnswer} did not`)
  console.log('checks:')
  for (const [ok, what] of checks) console.log(`  ${ok ? 'ok    ' : 'FAILED'} ${what}`)
  return checks.every(([ok]) => ok)
}

function modeAt(modes: ReadonlyArray<[number, ReceiverMode]>, at: number): ReceiverMode {
  let m: ReceiverMode = 'up'
  for (const [t, mode] of modes) if (t <= at) m = mode
  return m
}

function diskAt(holds: readonly HeldDisk[], at: number): string {
  return holds.some((h) => h.start <= at && (h.end === undefined || at < h.end)) ? 'full' : 'free'
}

// kept for every signal, so that a second Ctrl-C (tsx passes one on too) cannot cut the cleanup short
let signalled = false
const onSignal = (signal: NodeJS.Signals): void => {
  if (signalled) return
  signalled = true
  console.error(`soak: ${signal}: cleaning up`)
  void cleanup().finally(() => process.exit(130))
}
process.on('SIGINT', onSignal)
process.on('SIGTERM', onSignal)

let code = 1
try {
  code = (await main()) ? 0 : 1
} catch (err) {
  // after a signal, what fails next is only the cleanup pulling the run apart
  if (!signalled) console.error(`soak: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
} finally {
  await cleanup()
}
process.exit(code)
