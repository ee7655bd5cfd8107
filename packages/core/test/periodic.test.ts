import { afterEach, describe, expect, it, vi } from 'vitest'
import { periodic, type Logger } from '@smap/core'

function recordingLogger(): Logger & { errors: Array<[string, unknown]> } {
  const errors: Array<[string, unknown]> = []
  return { errors, info: () => {}, warn: () => {}, error: (m, e) => errors.push([m, e]) }
}

describe('periodic', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('runs now and then every period until stopped', async () => {
    vi.useFakeTimers()
    const fn = vi.fn()
    const job = periodic(fn, 1)
    expect(fn).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(3000)
    expect(fn).toHaveBeenCalledTimes(4)
    await job.stop()
    expect(job.running).toBe(false)
    await vi.advanceTimersByTimeAsync(5000)
    expect(fn).toHaveBeenCalledTimes(4)
  })

  it('never starts a run while the previous one is still going', async () => {
    vi.useFakeTimers()
    let active = 0
    let most = 0
    let runs = 0
    const job = periodic(async () => {
      runs++
      active++
      most = Math.max(most, active)
      await new Promise((r) => setTimeout(r, 2500)) // longer than the period
      active--
    }, 1)
    await vi.advanceTimersByTimeAsync(10_000)
    const stopped = job.stop()
    await vi.advanceTimersByTimeAsync(2500) // let the run in progress finish
    await stopped
    expect(most).toBe(1)
    // runs at 0, 3 s, 6 s, 9 s: each overrun skips the ticks it covered
    expect(runs).toBe(4)
  })

  it('logs a throw or a rejection with its stack and keeps the schedule', async () => {
    vi.useFakeTimers()
    const logger = recordingLogger()
    let n = 0
    const job = periodic(
      () => {
        n++
        if (n === 1) throw new Error('device offline')
        if (n === 2) return Promise.reject(new Error('timeout'))
        return undefined
      },
      1,
      { logger, name: 'poll' },
    )
    await vi.advanceTimersByTimeAsync(2000)
    await job.stop()
    expect(n).toBe(3)
    expect(logger.errors.map(([m, e]) => [m, (e as Error).message])).toEqual([
      ['periodic job poll failed; it will run again in 1 s', 'device offline'],
      ['periodic job poll failed; it will run again in 1 s', 'timeout'],
    ])
    expect((logger.errors[0]?.[1] as Error).stack).toContain('periodic.test.ts')
  })

  it('stop() waits for the run in progress', async () => {
    let finished = false
    const job = periodic(async () => {
      await new Promise((r) => setTimeout(r, 50))
      finished = true
    }, 10)
    await job.stop()
    expect(finished).toBe(true)
  })

  it('rejects a bad period with a clear message', () => {
    expect(() => periodic(() => {}, 0)).toThrow('periodic() needs a period in seconds greater than 0, got 0')
    expect(() => periodic('x' as never, 1)).toThrow('periodic() needs a function to run, got string')
  })
})
