import { SmapError } from '@smap/sdk'
import { createConsoleLogger, type Logger } from './logger.js'

/** A running periodic job. */
export interface PeriodicJob {
  /** Ends the schedule; resolves when a run in progress has finished. */
  stop(): Promise<void>
  /** Whether the job is still scheduled. */
  readonly running: boolean
}

/** Options of `periodic`. */
export interface PeriodicOptions {
  /** Where a failing run is reported (default: the console). */
  logger?: Logger
  /** Names the job in log lines. */
  name?: string
  /** Wait this many seconds before the first run instead of running now. */
  delay?: number
  /** Called with a run's error instead of logging it. */
  onError?: (error: unknown) => void
}

/**
 * Runs `fn` now and then every `seconds`, never two runs at once: a run that
 * overruns its period delays the next one, and missed ticks are skipped. A
 * throw or rejection is logged with its stack and the schedule goes on.
 * @example const job = periodic(() => inst.add('/sensor0', counter++), 1)
 */
export function periodic(fn: () => unknown, seconds: number, options: PeriodicOptions = {}): PeriodicJob {
  if (typeof fn !== 'function') throw new SmapError('SMAP_PERIODIC_INVALID', `periodic() needs a function to run, got ${typeof fn}`)
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new SmapError('SMAP_PERIODIC_INVALID', `periodic() needs a period in seconds greater than 0, got ${String(seconds)}`)
  }
  const logger = options.logger ?? createConsoleLogger()
  const label = options.name ? `periodic job ${options.name}` : 'periodic job'
  const periodMs = seconds * 1000
  let running = true
  let timer: NodeJS.Timeout | undefined
  let current: Promise<void> | undefined
  let due = Date.now() + (options.delay ?? 0) * 1000

  const tick = (): void => {
    timer = undefined
    if (!running) return
    current = runOnce().finally(() => {
      current = undefined
      if (!running) return
      // next run on the original grid, skipping ticks a long run overlapped
      due += periodMs
      const now = Date.now()
      if (due < now) due += Math.ceil((now - due) / periodMs) * periodMs
      timer = setTimeout(tick, due - now)
    })
  }

  const runOnce = async (): Promise<void> => {
    try {
      await fn()
    } catch (err) {
      if (options.onError) options.onError(err)
      else logger.error(`${label} failed; it will run again in ${seconds} s`, err)
    }
  }

  if (options.delay) timer = setTimeout(tick, options.delay * 1000)
  else tick()
  return {
    get running() {
      return running
    },
    async stop() {
      running = false
      if (timer) clearTimeout(timer)
      timer = undefined
      await current
    },
  }
}
