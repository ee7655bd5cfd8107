// What bench/report.ts and its child processes share: the workload, the
// messages they exchange, and small helpers for both sides.
import { fork, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import type { IntervalHistogram } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

export const HOST = '127.0.0.1'
export const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
/** Given explicitly, so that a restarted instance finds the same subscription and outbox. */
export const REPORT_UUID = '4b1b7a56-1f5e-4c3a-9d43-6d1a4a3c2b10'
export const STREAMS = 100
/** The sMAP paths of the streams, as bench/add.ts names them. */
export const PATHS: readonly string[] = Array.from({ length: STREAMS }, (_, i) => `/instrument${i % 10}/sensor${i}`)
/** Readings added between two yields to the event loop. */
export const BURST = 10_000
/** Readings per POST: what core sends at most (MAX_READINGS_PER_POST), and what the baseline sends. */
export const POST_READINGS = 10_000
/**
 * The subscription's MaxBuffer (per stream). inst.add outruns delivery by far,
 * so a burst of a million readings is backlog for a while; at the default of
 * 10,000 per stream the cap would drop most of it and the sink would never see
 * them all.
 */
export const MAX_BUFFER = 100_000
export const FLUSH_MS = 100

/** Epoch milliseconds with sub-millisecond resolution, comparable between processes on one machine. */
/** A free TCP port on loopback (so that a parent can send GETs to a child still loading). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, HOST, () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

export function now(): number {
  return performance.timeOrigin + performance.now()
}

/** Event loop delay over a span, from monitorEventLoopDelay (whose figures are nanoseconds). */
export interface LoopStats {
  maxMs: number
  p99Ms: number
  meanMs: number
}

export function loopStats(h: IntervalHistogram): LoopStats {
  return { maxMs: h.max / 1e6, p99Ms: h.percentile(99) / 1e6, meanMs: h.mean / 1e6 }
}

/** What the sink has acknowledged since its last reset. */
export interface SinkCounts {
  readings: number
  /** Sum of the reading values: with values 0..n-1 it must be n(n-1)/2, or readings were lost or doubled. */
  valueSum: number
  posts: number
  /** POSTs whose X-Smap-Batch-Id the sink had already acknowledged (not counted again). */
  duplicates: number
  cpuMicros: number
}

export type ToSink = { type: 'reset'; expect: number } | { type: 'counts' }
export type FromSink =
  | { type: 'ready'; url: string }
  /** Sent once the readings since the reset reach `expect`; `at` is when the last one was acknowledged. */
  | ({ type: 'reached'; at: number } & SinkCounts)
  | ({ type: 'counts' } & SinkCounts)

/** Which workload a subject process runs. */
export type Role = 'smap' | 'baseline' | 'fill' | 'drain'

export interface Setup {
  type: 'setup'
  /** Where to POST (a closed port for `fill`). */
  deliverTo: string
  readings: number
  dataDir: string
}

export type ToSubject = Setup | { type: 'go' } | { type: 'finish' }

/** What a subject says when it is done: its peak memory, its event loop, what it delivered or holds. */
export interface SubjectResult {
  type: 'result'
  maxRssKiB: number
  loop: LoopStats
  /** The outbox at the end (sMAP subjects). */
  backlog?: number
  dropped?: number
  delivered?: number
  restored?: number
  /** Warnings and errors the instance logged. */
  logged: string[]
  stopMs?: number
}

export type FromSubject =
  /** Set up; `url` is where the instance is served (`fill`, `drain`). */
  | { type: 'ready'; url?: string }
  /** Every reading has been handed over (inst.add, or the baseline's loop); `t0` is when the first one was. */
  | { type: 'added'; t0: number; at: number }
  /** `fill`: everything added is in the outbox (inst.flush() resolved). */
  | { type: 'filled'; addMs: number; flushMs: number; backlog: number; loop: LoopStats }
  /** `fill`: the outbox sat buffered, the sink down, for a while. */
  | { type: 'held'; heldMs: number; backlog: number; loop: LoopStats }
  /** `drain`: inst.start() (through serve) resolved, the outbox loaded; `t0` is just before the new SmapInstance. */
  | { type: 'started'; t0: number; at: number; loop: LoopStats }
  | SubjectResult

type Message = { type: string }

/** The next message of `type` from a child; rejects if it exits first or `timeoutMs` passes. */
export function nextMessage<M extends Message, T extends M['type']>(child: ChildProcess, type: T, timeoutMs: number, what: string): Promise<Extract<M, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: M): void => {
      if (m.type !== type) return
      cleanup()
      resolve(m as Extract<M, { type: T }>)
    }
    const onExit = (code: number | null): void => {
      cleanup()
      reject(new Error(`${what}: process ${child.pid} exited (code ${code}) before sending "${type}"`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`${what}: no "${type}" within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

/** Forks a module of this folder; execArgv carries tsx's loader and --conditions to the child. */
export function startChild(file: string, args: string[] = []): ChildProcess {
  return fork(fileURLToPath(new URL(file, import.meta.url)), args, { execArgv: process.execArgv })
}

/** In a child: the next message of `type` from the parent. */
export function fromParent<T extends ToSubject['type']>(type: T): Promise<Extract<ToSubject, { type: T }>> {
  return new Promise((resolve) => {
    const onMessage = (m: ToSubject): void => {
      if (m.type !== type) return
      process.off('message', onMessage)
      resolve(m as Extract<ToSubject, { type: T }>)
    }
    process.on('message', onMessage)
  })
}

/** In a child: a message to the parent. */
export function toParent(m: FromSubject | FromSink): void {
  process.send?.(m)
}
