import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { Outbox, type OutboxEntry } from '../../src/reporting/outbox.js'

// what the outbox says: a test that expects no line checks `lines`
const lines: string[] = []
const logger = { info: () => {}, warn: (m: string) => void lines.push(m), error: (m: string) => void lines.push(m) }
const entries = (from: number, n: number, path = '/a'): OutboxEntry[] => [{ p: path, u: 'u', r: Array.from({ length: n }, (_, k) => [1000 + from + k, from + k]) }]

it('a chunk dropped while take reads it back does not stay warm for ever', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smap-warm-race-'))
  const box = await Outbox.open(dir, { logger, memoryReadings: 150, chunkReadings: 100, maxPerStream: 100_000 })
  for (let i = 0; i < 10; i++) await box.append(entries(i * 40, 40))
  const first = await box.take(120, 'r'); first.ack(); first.release(); await box.settled()
  const p = box.take(40, 'r')
  await Promise.resolve()
  box.dropOldest() // the server's byte cap (Reporter #tick), while take reads the head back
  const lease = await p
  lease.ack(); lease.release()
  for (;;) {
    const l = await box.take(100, 'r')
    if (l.count === 0) break
    l.ack(); l.release()
  }
  await box.settled()
  expect(box.buffered).toBe(0)
  expect(box.warmReadings).toBe(0)
  // and no false alarm about a chunk that could not be read back
  expect(lines).toEqual([])
})
