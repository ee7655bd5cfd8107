import type { Clock, ClockTimer } from '../clock.js'
import { DriverError } from '../errors.js'

/** Runs `work`; rejects with a `DriverError` naming `what` if it takes longer than `ms` on `clock`. */
export function withTimeout<T>(work: () => T | Promise<T>, ms: number | undefined, what: string, driver: string, clock: Clock): Promise<T> {
  const p = Promise.resolve().then(work)
  if (ms === undefined) return p
  let timer: ClockTimer | undefined
  return Promise.race([
    p.finally(() => timer?.cancel()),
    new Promise<never>((_, reject) => {
      timer = clock.setTimer(() => reject(new DriverError('SMAP_DRIVER_TIMEOUT', driver, `${what} did not finish within ${ms / 1000} s`)), ms)
    }),
  ])
}
