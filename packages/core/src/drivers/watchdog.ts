import type { Logger } from '../logger.js'

const TICK_MS = 200
const STALL_MS = 1000

/**
 * Watches the event loop: a turn that blocks it for over a second (a driver
 * computing in a loop, a huge synchronous parse) is logged once it ends, with
 * `suspects(since)` naming what ran meanwhile. Returns the function that stops it.
 */
export function startWatchdog(logger: Logger, suspects: (since: number) => string[]): () => void {
  let last = Date.now()
  const timer = setInterval(() => {
    const now = Date.now()
    const blocked = now - last - TICK_MS
    if (blocked > STALL_MS) {
      const who = suspects(last)
      logger.warn(`the event loop was blocked for ${(blocked / 1000).toFixed(1)} s, so nothing else ran (no HTTP answers, no other driver); running then: ${who.length > 0 ? who.join(', ') : 'no driver poll'}`)
    }
    last = now
  }, TICK_MS)
  timer.unref()
  return () => clearInterval(timer)
}
