/**
 * When a channel writes the readings it holds to its outbox: at the next turn
 * of the event loop after one arrives (everything added in the same turn goes
 * in the same write), but no sooner than `gapMs` after its last write, so that
 * a steady trickle of readings makes at most one write per `gapMs`.
 */
export class WriteTimer {
  readonly #gapMs: number
  readonly #write: () => void
  #immediate: NodeJS.Immediate | undefined
  #timeout: NodeJS.Timeout | undefined
  #last = 0

  constructor(gapMs: number, write: () => void) {
    this.#gapMs = gapMs
    this.#write = write
  }

  /** A reading arrived: a write is due (one is already, if it was asked for since the last). */
  due(): void {
    if (this.#immediate !== undefined || this.#timeout !== undefined) return
    const wait = this.#last + this.#gapMs - Date.now()
    if (wait > 0) this.#timeout = setTimeout(this.#fire, wait)
    else this.#immediate = setImmediate(this.#fire)
  }

  /** A write starts (due, or asked for by a flush): the gap counts from now. */
  started(): void {
    this.#last = Date.now()
  }

  /** Forgets a write that is due (the channel stops). */
  cancel(): void {
    if (this.#immediate !== undefined) clearImmediate(this.#immediate)
    if (this.#timeout !== undefined) clearTimeout(this.#timeout)
    this.#immediate = this.#timeout = undefined
  }

  readonly #fire = (): void => {
    this.#immediate = this.#timeout = undefined
    this.#write()
  }
}
