// What bench/scale.ts and its child processes (_scale-source.ts,
// _scale-latency-sink.ts) share: the workload's shape and the messages they
// exchange. The general helpers (startChild, nextMessage, now, loopStats) are
// bench/_report-ipc.ts's.
import type { LoopStats } from './_report-ipc.js'

/**
 * Readings are added in slices this often, as bench/_streams-server.ts does
 * (not imported from there: it would load @smap/core into the bare process).
 */
export const SLICE_MS = 100
/** Streams per collection: /c0/s0 ... /c0/s999, /c1/s0 ... */
export const PER_COLLECTION = 1000
/**
 * The subscription's MaxBuffer (per stream): the default, given explicitly.
 * A window plus its warm-up is about 70 readings a stream, so even a source
 * that delivers nothing for the whole run drops none.
 */
export const MAX_BUFFER = 10_000
/** Given explicitly, so that the parent can find its channel in GET /status. */
export const REPORT_UUID = '0f3b6c2e-5a4d-4e8f-9b1a-7c6d5e4f3a21'

export function streamPath(k: number): string {
  return `/c${Math.floor(k / PER_COLLECTION)}/s${k % PER_COLLECTION}`
}

/** What a source process runs, given as JSON in argv[2]. */
export interface SourceConfig {
  /** `ours`: a SmapInstance with one report; `bare`: appendFile and a POST loop. */
  kind: 'ours' | 'bare'
  streams: number
  /** Each stream gets one reading this often, ms (a multiple of SLICE_MS). */
  periodMs: number
  /** `random`: values like a sensor's; `addTime`: the epoch ms (sub-ms) the reading was added, for the receiver to time. */
  value: 'random' | 'addTime'
  deliverTo: string
  dataDir: string
  /** `ours`: serve HTTP on this port (the parent picked it, so it can poll before the child says anything); else only inst.start(). */
  port?: number
}

export type ToSource = { type: 'mark' }

/** How long a source took to get going, ms since its process started (performance.now()). */
export interface ReadyTimings {
  /** When this module began to run: node, tsx and the bench's own imports loaded. */
  loadedMs: number
  /** ours: @smap/core imported (from its TypeScript sources, through tsx); bare: = loadedMs. */
  coreMs: number
  /** The streams made (ours: addTimeseries; bare: paths and uuids). */
  streamsMs: number
  /** inst.addReport resolved (ours). */
  reportMs: number
  /** serve() or inst.start() resolved, and the generator started. */
  readyMs: number
}

/** A source's figures at one moment; the event loop's since the mark before. */
export interface Mark {
  type: 'mark'
  /** The source's performance.now(). */
  at: number
  cpuMicros: number
  /** Readings the generator has produced so far. */
  added: number
  rssBytes: number
  heapUsedBytes: number
  maxRssKiB: number
  loop: LoopStats
  /** bare: readings added but not yet acknowledged by the receiver (ours: ask GET /status). */
  backlog?: number
  /** Warnings and errors the instance logged (the first few), and how many in all. */
  logged: string[]
  loggedCount: number
}

export type FromSource = ({ type: 'ready' } & ReadyTimings) | Mark

export type ToLatencySink = { type: 'arrivals' }
export type FromLatencySink =
  | { type: 'ready'; url: string }
  /** Per reading received: [the add time it carries, arrival - add time in ms]. */
  | { type: 'arrivals'; pairs: Array<[number, number]> }
