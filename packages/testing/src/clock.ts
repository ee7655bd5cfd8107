import type { Clock, ClockTimer } from '@smap/core'

interface Timer {
  at: number
  seq: number
  fn: () => unknown
  cancelled: boolean
}

/** A clock that moves only when told to, running each timer that falls due, in time order, and awaiting it. */
export class ManualClock implements Clock {
  #now: number
  #seq = 0
  #timers: Timer[] = []

  constructor(start: number) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimer(fn: () => unknown, ms: number): ClockTimer {
    const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false }
    this.#timers.push(timer)
    return {
      cancel: () => {
        timer.cancelled = true
      },
    }
  }

  /** Moves to `target` (Unix ms); `settle` runs before each step, so work a timer set in motion can set the next timer. */
  async advanceTo(target: number, settle: () => Promise<void>): Promise<void> {
    for (;;) {
      await settle()
      this.#timers = this.#timers.filter((t) => !t.cancelled)
      let next: Timer | undefined
      for (const t of this.#timers) if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t
      if (!next) break
      this.#timers.splice(this.#timers.indexOf(next), 1)
      this.#now = Math.max(this.#now, next.at)
      await next.fn()
    }
    this.#now = Math.max(this.#now, target)
  }
}
