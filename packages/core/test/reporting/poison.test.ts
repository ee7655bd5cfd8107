import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SmapInstance, type ChannelStatus, type Logger } from '@smap/core'
import { startSink, type Received, type Sink } from '../_sink.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`)
    await sleep(10)
  }
}

/** What the original archiver does with a batch: 500 for the whole of it if any reading is not a number. */
const archiver = (req: Received): 'ok' | { status: number; body: string } =>
  Object.values(req.body).some((s) => (s.Readings ?? []).some(([, v]) => typeof v !== 'number')) ? { status: 500, body: 'Internal Server Error: invalid literal for float()' } : 'ok'

describe('a batch the receiver refuses with 5xx while it takes others', () => {
  let dir: string
  let sink: Sink
  let inst: SmapInstance
  const lines: string[] = []
  const logger: Logger = { info() {}, warn: (m) => void lines.push(m), error: (m) => void lines.push(m) }
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-poison-'))
    sink = await startSink()
    lines.length = 0
    inst = new SmapInstance(ROOT, { logger, server: { dataDir: dir, flushInterval: 10, retryBackoff: 200, maxRetryBackoff: 5000 } })
    inst.addTimeseries('/power', { unit: 'kW', readingType: 'double' })
    inst.addTimeseries('/state', { unit: 'text', readingType: 'string' })
  })
  afterEach(async () => {
    await inst.stop()
    await sink.close()
    await rm(dir, { recursive: true, force: true })
  })
  const channel = async (): Promise<ChannelStatus> => (Object.values((await inst.status()).reports)[0]?.channels[0]) as ChannelStatus

  it('is split at once to find the readings it refuses; the rest arrive and only those are dead letters', async () => {
    sink.behave(archiver)
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: sink.url })
    await inst.start()
    const t0 = Date.now()
    for (let i = 0; i < 200; i++) inst.add('/power', t0 + i, i)
    inst.add('/state', t0 + 57, 'tripped')
    for (let i = 200; i < 400; i++) inst.add('/power', t0 + i, i)
    await inst.flush()
    const started = Date.now()
    await until(async () => sink.uniqueValues('/power').length === 400, 15_000, 'every number delivered')
    // found by halving, not after a backoff per attempt: 3 tries, then about log2(401) halvings
    expect(Date.now() - started).toBeLessThan(8000)
    expect(sink.uniqueValues('/power')).toEqual(Array.from({ length: 400 }, (_, i) => i))
    await until(async () => (await channel()).deadLetters === 1, 5000, 'the refused reading set aside')
    const c = await channel()
    expect([c.deadLetters, c.deadLettered, c.backlogReadings]).toEqual([1, 1, 0])
    expect(c.added).toBe(c.delivered + c.deadLettered)
    expect(lines.some((l) => l.includes('refused batch') && l.includes('takes other reports; splitting it'))).toBe(true)
    // and delivery goes on
    inst.add('/power', Date.now(), 1000)
    await until(() => sink.uniqueValues('/power').includes(1000), 5000, 'the next reading')
  })

  it('a receiver that is down (5xx to everything, an empty report too) is retried with backoff, never split or dead-lettered', async () => {
    let down = true
    sink.behave(() => (down ? { status: 503, body: 'maintenance' } : 'ok'))
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: sink.url })
    await inst.start()
    for (let i = 0; i < 50; i++) inst.add('/power', Date.now(), i)
    await inst.flush()
    await sleep(3000)
    const seenDown = sink.seen.length
    expect(seenDown).toBeGreaterThan(3)
    expect(seenDown).toBeLessThan(40) // backed off, not a storm of halves
    expect((await channel()).deadLetters).toBe(0)
    down = false
    await until(() => sink.uniqueValues('/power').length === 50, 15_000, 'all delivered after it came back')
    expect(sink.uniqueValues('/power')).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect((await channel()).deadLettered).toBe(0)
  })
})
