import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Outbox, type OutboxEntry } from '../../src/reporting/outbox.js'

const logger = { info: () => {}, warn: () => {}, error: () => {} }
const values = (entries: OutboxEntry[]): Array<[string, number[]]> => entries.map((e) => [e.p, e.r.map((r) => r[1] as number)])

describe('an outbox lease', () => {
  let dir: string
  let box: Outbox
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-lease-'))
    box = await Outbox.open(dir, { logger })
    await box.append([
      { p: '/a', u: 'ua', r: [[1, 1], [2, 2], [3, 3]] },
      { p: '/b', u: 'ub', r: [[1, 10], [2, 20]] },
    ])
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('lends readings from the head in order, under an id that names their place', async () => {
    const lease = await box.take(4, 'sub')
    expect(lease.count).toBe(4)
    expect(values(lease.entries())).toEqual([['/a', [1, 2, 3]], ['/b', [10]]])
    expect(lease.id).toMatch(/^sub:\d+\.0\.0-\d+\.1\.1$/)
    lease.release()
    // the same readings get the same id the next time
    expect((await box.take(4, 'sub')).id).toBe(lease.id)
  })

  it('splits in halves with ids of their own, and each half acknowledges only its readings', async () => {
    const lease = await box.take(10, 'sub')
    const [a, b] = lease.split()
    expect([a.count, b.count, a.id, b.id]).toEqual([3, 2, `${lease.id}.1`, `${lease.id}.2`])
    expect(values(a.entries())).toEqual([['/a', [1, 2, 3]]])
    expect(values(b.entries())).toEqual([['/b', [10, 20]]])
    const [a1, a2] = a.split()
    expect(values(a1.entries())).toEqual([['/a', [1, 2]]])
    expect(values(a2.entries())).toEqual([['/a', [3]]])
    expect(a1.ack()).toBe(2)
    lease.release()
    expect(box.buffered).toBe(3)
    expect(values((await box.take(10, 'sub')).entries())).toEqual([['/a', [3]], ['/b', [10, 20]]])
  })

  it('counts a reading once when it is acknowledged twice', async () => {
    const lease = await box.take(10, 'sub')
    expect(lease.ack()).toBe(5)
    expect(lease.ack()).toBe(0)
    lease.release()
    expect(box.buffered).toBe(0)
  })

  it('is empty when the outbox is, with an id that says so', async () => {
    ;(await box.take(10, 'sub')).ack()
    const empty = await box.take(10, 'sub')
    expect(empty.count).toBe(0)
    expect(empty.id).toMatch(/^sub:empty:\d+$/)
  })
})
