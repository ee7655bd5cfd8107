// How the host supervises a driver: restart delays, the crash limit, deadlines.

/** How the host restarts failing drivers. */
export interface SupervisionOptions {
  /** First restart delay (doubles each time, with jitter). Default 1 s. */
  backoffMs?: number
  /** Longest restart delay. Default 60 s. */
  maxBackoffMs?: number
  /** After this many failures within `crashWindowMs` the driver rests for `failedRetryMs`. Default 5. */
  crashLimit?: number
  /** Default 10 minutes. */
  crashWindowMs?: number
  /** How long a driver that hit the crash limit rests before it is tried again. Default 10 minutes. */
  failedRetryMs?: number
  /** Longest a setup or start may take. Default 30 s. */
  startTimeoutMs?: number
  /** Longest a poll may take when it sets no `timeout` of its own. Default five periods, at least 60 s and at most an hour. */
  pollTimeoutMs?: number
  /** Longest a stop may take on shutdown. Default 5 s. */
  stopTimeoutMs?: number
}

export const SUPERVISION_DEFAULTS: Required<Omit<SupervisionOptions, 'pollTimeoutMs'>> & Pick<SupervisionOptions, 'pollTimeoutMs'> = {
  backoffMs: 1000,
  maxBackoffMs: 60_000,
  crashLimit: 5,
  crashWindowMs: 10 * 60_000,
  failedRetryMs: 10 * 60_000,
  startTimeoutMs: 30_000,
  stopTimeoutMs: 5_000,
}

/** The delay before restart number `failures` (1, 2, ...): doubling from `backoffMs` up to `maxBackoffMs`, with jitter. */
export function backoffDelay(sup: { backoffMs: number; maxBackoffMs: number }, failures: number): number {
  const cap = Math.min(sup.maxBackoffMs, sup.backoffMs * 2 ** (failures - 1))
  // "equal jitter": at least half the delay, so a crash loop still slows down
  return cap / 2 + Math.random() * (cap / 2)
}

/** `10 min` or `2.5 s`. */
export function formatDelay(ms: number): string {
  return ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000} min` : `${(ms / 1000).toFixed(1)} s`
}
