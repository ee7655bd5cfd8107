import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { Outbox, type OutboxEntry } from '../../src/reporting/outbox.js'

// what the outbox says: a test that expects no line checks `lines`
const lines: string[] = []
const logger = { info: () => {}, warn: (m: string) => void lines.push(m), error: (m: string) => void lines.push(m) }
const entries = (from: number, n: number, path = '/a'): OutboxEntry[] => [{ p: path, u: 'u', r: Array.from({ length: n }, (_, k) => [1000 + from + k, from + k]) }]

it('batch ids never repeat after a load-time merge', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smap-seq-merge-'))
  const box = await Outbox.open(dir, { logger, segmentReadings: 10 })
  for (let i = 0; i < 9; i++) await box.append(entries(i, 1))
  const held = await box.take(100, 'r') // on loan as the segment closes: no runtime rewrite
  await box.append(entries(9, 1))
  await box.settled()
  held.release()
  await box.append(entries(10, 10)) // seg 2: one chunk of 10, not worth rewriting
  await box.settled()
  const again = await Outbox.open(dir, { logger })
  const ids: string[] = []
  const vals: number[][] = []
  for (;;) {
    const l = await again.take(10, 'r')
    if (l.count === 0) break
    ids.push(l.id)
    vals.push(l.entries().flatMap((e) => e.r.map(([, v]) => v as number)))
    l.ack(); l.release()
  }
  expect(new Set(ids).size).toBe(ids.length)
})
