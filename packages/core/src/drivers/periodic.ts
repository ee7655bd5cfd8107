import { systemClock, type Clock, type ClockTimer } from '../clock.js'
import { smapError } from '../errors.js'
import { createConsoleLogger, type Logger } from '../logger.js'

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
  /** Whose time it keeps (default the system's). */
  clock?: Clock
}

/**
 * Runs `fn` now and then every `seconds`, never two runs at once: a run that
 * overruns its period delays the next one, and missed ticks are skipped. A
 * throw or rejection is logged with its stack and the schedule goes on.
 * @example const job = periodic(() => inst.add('/sensor0', counter++), 1)
 */
export function periodic(fn: () => unknown, seconds: number, options: PeriodicOptions = {}): PeriodicJob {
  if (typeof fn !== 'function') throw smapError('SMAP_PERIODIC_INVALID', `periodic() needs a function to run, got ${typeof fn}`)
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    throw smapError('SMAP_PERIODIC_INVALID', `periodic() needs a period in seconds greater than 0, got ${String(seconds)}`)
  }
  const clock = options.clock ?? systemClock
  const logger = options.logger ?? createConsoleLogger()
  const label = options.name ? `periodic job ${options.name}` : 'periodic job'
  const periodMs = seconds * 1000
  let running = true
  let timer: ClockTimer | undefined
  let current: Promise<void> | undefined
  let due = clock.now() + (options.delay ?? 0) * 1000

  // returns the run and the scheduling of the next, which a test clock awaits
  const tick = (): Promise<void> | undefined => {
    timer = undefined
    if (!running) return undefined
    current = runOnce().finally(() => {
      current = undefined
      if (!running) return
      // next run on the original grid, skipping ticks a long run overlapped
      due += periodMs
      const now = clock.now()
      if (due < now) due += Math.ceil((now - due) / periodMs) * periodMs
      timer = clock.setTimer(tick, due - now)
    })
    return current
  }

  const runOnce = async (): Promise<void> => {
    try {
      await fn()
    } catch (err) {
      if (options.onError) options.onError(err)
      else logger.error(`${label} failed; it will run again in ${seconds} s`, err)
    }
  }

  if (options.delay) timer = clock.setTimer(tick, options.delay * 1000)
  else void tick()
  return {
    get running() {
      return running
    },
    async stop() {
      running = false
      timer?.cancel()
      timer = undefined
      await current
    },
  }
}
