/** A timer set on a `Clock`. */
export interface ClockTimer {
  cancel(): void
}

/**
 * Time as the driver host sees it. The system clock in a source; a test
 * harness gives a clock it moves itself, which awaits what a timer's callback
 * returns before it moves on.
 */
export interface Clock {
  /** Unix ms. */
  now(): number
  /** Calls `fn` once, `ms` from now. */
  setTimer(fn: () => unknown, ms: number): ClockTimer
}

/** Wall-clock time and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const timer = setTimeout(fn, Math.max(0, ms))
    return { cancel: () => clearTimeout(timer) }
  },
}
