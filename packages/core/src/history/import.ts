import { join } from 'node:path'
import type { DriverInstance } from '../drivers/driver-instance.js'
import { smapError } from '../errors.js'
import type { SmapInstance } from '../instance.js'
import { Store } from '../reporting/store.js'
import { isWithin, normalizePath } from '../tree/path.js'
import { checkTimezone } from '../tree/reading.js'
import { nextLocalMidnight } from './local-time.js'

/** Options of `importHistory`. */
export interface ImportOptions {
  /** Unix ms, inclusive. */
  start: number
  /** Unix ms, exclusive. */
  end: number
  /** Only drivers at or below this path. */
  path?: string
  /** Length of one chunk, ms; without it, each chunk is one calendar day of `timezone` (23 or 25 hours when clocks change). */
  chunkMs?: number
  /** The zone whose days the chunks follow (default the instance's, its root `Properties/Timezone`). */
  timezone?: string
  /** Forget earlier progress of the same import and start over. */
  restart?: boolean
  /** Attempts per chunk before the import stops (default 3). */
  attempts?: number
  signal?: AbortSignal
  onProgress?: (p: ImportProgress) => void
}

/** Where an import is. */
export interface ImportProgress {
  phase: 'import' | 'deliver' | 'done'
  driver?: string
  /** Chunks completed (of all drivers), including those done in an earlier run. */
  chunksDone: number
  chunks: number
  /** Chunks skipped because an earlier run completed them. */
  resumed: number
  /** Readings imported in this run. */
  readings: number
  /** Start of the chunk just completed (Unix ms). */
  chunkStart?: number
  /** End of the chunk just completed (Unix ms, exclusive). */
  chunkEnd?: number
  /** Readings waiting for acknowledgement. */
  undelivered: number
  elapsedMs: number
}

/** How an import ended. */
export interface ImportResult {
  readings: number
  chunks: number
  resumed: number
  elapsedMs: number
}

/**
 * Imports history through drivers' `load()`, a chunk at a time (a local
 * calendar day unless `chunkMs` is given), and waits until the subscribers
 * have acknowledged every reading. A chunk's readings reach the outboxes only
 * when the chunk is complete, and only then is the time it ends recorded (in
 * the data dir), so a rerun after an interruption resumes there and sends
 * nothing twice, however its chunks fall.
 */
export async function importHistory(inst: SmapInstance, options: ImportOptions): Promise<ImportResult> {
  const { start, end } = options
  const chunkMs = options.chunkMs
  if (!Number.isFinite(start) || !Number.isFinite(end) || start >= end) {
    throw smapError('SMAP_IMPORT_RANGE', `the import range must have its start before its end, got ${new Date(start).toISOString?.() ?? start} to ${new Date(end).toISOString?.() ?? end}`)
  }
  if (chunkMs !== undefined && !(chunkMs > 0)) throw smapError('SMAP_IMPORT_RANGE', `the chunk length must be positive, got ${chunkMs}`)
  const base = options.path === undefined ? '/' : normalizePath(options.path)
  const drivers = [...inst.drivers.values()].filter((d) => isWithin(base, d.path) || isWithin(d.path, base))
  if (drivers.length === 0) throw smapError('SMAP_IMPORT_NO_DRIVER', `no driver at or below ${base} in this config`)
  const loaders = drivers.filter((d) => d.canLoad)
  if (loaders.length === 0) {
    throw smapError('SMAP_IMPORT_NO_LOAD', `no driver at or below ${base} can import history: ${drivers.map((d) => `${d.path} (${d.label})`).join(', ')} ha${drivers.length === 1 ? 's' : 've'} no load()`)
  }
  if (inst.subscriptions.size === 0) {
    throw smapError('SMAP_IMPORT_NO_REPORT', 'the config has no [report] section, so nothing would receive the imported readings; add one (e.g. ReportDeliveryLocation = http://localhost:8079/add, ReportResource = /+)')
  }

  const began = Date.now()
  const reporter = inst.reporter
  reporter.autoFlush = false
  const ranges = chunkRanges(start, end, chunkMs, options.timezone === undefined ? inst.timezone : checkTimezone(options.timezone, 'the import'))
  const store = await Store.open<Progress>(join(inst.dataDir, 'imports.db'))
  // by start only: a later run from the same start (a later --end, or the default end, now) goes on from where this one got
  const keyOf = (d: DriverInstance): string => `${d.path}|${d.namespace}|${start}`
  if (options.restart) for (const d of loaders) for (const doc of await recordsOf(store, keyOf(d))) await store.delete(doc._id)

  let readings = 0
  const counter = (): void => {
    readings++
  }
  // every reading added while importing, by any driver
  const stopCounting = inst.onReading(counter)
  let chunksDone = 0
  let resumed = 0
  const total = ranges.length * loaders.length
  const progress = async (phase: ImportProgress['phase'], extra: Partial<ImportProgress> = {}): Promise<void> => {
    if (!options.onProgress) return
    const { backlog } = reporter.undelivered()
    options.onProgress({ phase, chunksDone, chunks: total, resumed, readings, undelivered: backlog, elapsedMs: Date.now() - began, ...extra })
  }

  const droppedBefore = reporter.undelivered().dropped
  const checkDropped = (): void => {
    const dropped = reporter.undelivered().dropped - droppedBefore
    if (dropped > 0) {
      throw smapError(
        'SMAP_IMPORT_DROPPED',
        `${dropped} imported readings were dropped because a subscriber's buffer for a stream was full (MaxBuffer); raise MaxBuffer in the [report] section above the readings one chunk brings per stream, or use shorter chunks (--chunk-hours), and import again with --restart`,
      )
    }
  }
  try {
    await inst.start({ drivers: false })
    for (const d of loaders) {
      try {
        await d.setupOnce()
      } catch (err) {
        throw smapError('SMAP_IMPORT_SETUP', `driver ${d.path} (${d.label}) failed to set up: ${(err as Error).message}`, { cause: err })
      }
    }
    for (const d of loaders) {
      const until = doneUntil(await recordsOf(store, keyOf(d)), keyOf(d), start, end)
      const already = ranges.filter((r) => r.end <= until).length
      resumed += already
      chunksDone += already
      for (let i = already; i < ranges.length; i++) {
        options.signal?.throwIfAborted()
        // backpressure: a chunk waits until the subscribers have room for it, so the cap never drops imported readings
        while (reporter.undelivered().fullest > 0.5) {
          options.signal?.throwIfAborted()
          checkDropped()
          await progress('deliver')
          await new Promise((r) => setTimeout(r, 100))
        }
        const chunk = ranges[i] as Range
        // a chunk that an earlier run with other chunks finished in part: only the rest
        const range = { start: Math.max(chunk.start, until), end: chunk.end }
        const attempts = options.attempts ?? 3
        for (let attempt = 1; ; attempt++) {
          const before = readings
          try {
            await d.load(range)
            break
          } catch (err) {
            // what a failed attempt added must not be sent: drop it and try again
            reporter.discardPending()
            readings = before
            if (attempt >= attempts || options.signal?.aborted) {
              throw smapError(
                'SMAP_IMPORT_FAILED',
                `driver ${d.path} (${d.label}) failed to import ${new Date(range.start).toISOString()} to ${new Date(range.end).toISOString()} (attempt ${attempt} of ${attempts}): ${(err as Error).message}; run the same command again to resume there`,
                { cause: err },
              )
            }
            await new Promise((r) => setTimeout(r, 1000 * 2 ** (attempt - 1)))
          }
        }
        // the whole chunk into the outboxes, then record it as done
        await inst.flush()
        checkDropped()
        await store.put({ _id: keyOf(d), until: range.end })
        chunksDone++
        await progress('import', { driver: d.path, chunkStart: range.start, chunkEnd: range.end })
      }
    }
    // every reading acknowledged, or an honest failure
    for (;;) {
      checkDropped()
      const { backlog, deadLetters } = reporter.undelivered()
      if (deadLetters > 0) throw smapError('SMAP_IMPORT_REJECTED', `${deadLetters} readings were rejected by a subscriber and set aside as dead letters; see GET /status and POST /reports/UUID/replay under smap run`)
      if (backlog === 0) break
      options.signal?.throwIfAborted()
      await progress('deliver')
      await new Promise((r) => setTimeout(r, 250))
    }
    await progress('done')
    return { readings, chunks: total, resumed, elapsedMs: Date.now() - began }
  } finally {
    stopCounting()
    reporter.autoFlush = true
  }
}

interface Range {
  start: number
  end: number
}

/** Fixed-length chunks from `start`, or else the calendar days of `zone` (the first and last cut to the range). */
function chunkRanges(start: number, end: number, chunkMs: number | undefined, zone: string): Range[] {
  const ranges: Range[] = []
  for (let t = start; t < end; ) {
    const next = Math.min(end, chunkMs === undefined ? nextLocalMidnight(zone, t) : t + chunkMs)
    ranges.push({ start: t, end: next })
    t = next
  }
  return ranges
}

/**
 * What imports have done, per driver and start. `until`: every reading from
 * the start to it has reached the outboxes. Records of earlier versions, keyed
 * `KEY|END|CHUNK_MS`, counted `done` chunks of that length from the start instead.
 */
interface Progress {
  _id: string
  until?: number
  done?: number
}

async function recordsOf(store: Store<Progress>, key: string): Promise<Progress[]> {
  return (await store.all()).filter((doc) => doc._id === key || (doc._id.startsWith(`${key}|`) && LEGACY.test(doc._id.slice(key.length))))
}

const LEGACY = /^\|(\d+)\|(\d+)$/

/** The time up to which the records say the import is done: the furthest any of them reached. */
function doneUntil(records: Progress[], key: string, start: number, end: number): number {
  let until = start
  for (const doc of records) {
    const legacy = LEGACY.exec(doc._id.slice(key.length))
    const reached = doc._id === key ? doc.until : legacy && doc.done !== undefined ? Math.min(Number(legacy[1]), start + doc.done * Number(legacy[2])) : undefined
    if (reached !== undefined && Number.isFinite(reached)) until = Math.max(until, Math.min(end, reached))
  }
  return until
}
