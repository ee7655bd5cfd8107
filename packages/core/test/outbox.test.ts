import { execFileSync } from 'node:child_process'
import { appendFile, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Logger } from '@smap/core'
import { Outbox, type OutboxEntry } from '../src/reporting/outbox.js'
import { canMount } from './_mount.js'

const logger: Logger & { lines: string[] } = { lines: [], info: () => {}, warn: (m) => logger.lines.push(m), error: (m) => logger.lines.push(m) }

const entries = (from: number, n: number, path = '/a'): OutboxEntry[] => [{ p: path, u: 'u', r: Array.from({ length: n }, (_, k) => [1000 + from + k, from + k]) }]

/** Everything in the outbox, in order, as values. */
async function drain(box: Outbox): Promise<number[]> {
  return (await box.take(Number.MAX_SAFE_INTEGER, 'r')).entries().flatMap((e) => e.r.map(([, v]) => v as number))
}

/** The number of the first chunk a batch covers: its id is `PREFIX:CHUNK.ENTRY.FROM-...`. */
const chunkOf = (id: string): number => Number(/^[^:]+:(\d+)\./.exec(id)?.[1])


describe('the outbox store', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-outbox-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('stores chunks of at most 10,000 readings and deletes segment files once delivered', async () => {
    const box = await Outbox.open(dir, { logger, segmentReadings: 20_000, maxPerStream: 100_000 })
    await box.append(entries(0, 25_000))
    expect(box.chunks).toBe(3)
    await box.append(entries(25_000, 20_000))
    expect(await readdir(dir)).toEqual(['seg-00000001.db', 'seg-00000002.db'])
    const lease = await box.take(30_000, 'r')
    // whole chunks only (10,000 + 10,000 + 5,000): the next chunk of 10,000 would not fit, it waits for the next batch
    expect(lease.count).toBe(25_000)
    lease.ack()
    await box.settled()
    expect(box.buffered).toBe(20_000)
    // the first segment is all delivered: its file is gone, not compacted
    expect(await readdir(dir)).toEqual(['seg-00000002.db'])
    const again = await Outbox.open(dir, { logger, maxPerStream: 100_000 })
    expect(await drain(again)).toEqual(Array.from({ length: 20_000 }, (_, k) => 25_000 + k))
  })

  it('never reuses a chunk number (they name batches), even after everything was delivered', async () => {
    const box = await Outbox.open(dir, { logger })
    await box.append(entries(0, 5))
    const first = chunkOf((await box.take(5, 'r')).id)
    ;(await box.take(5, 'r')).ack()
    await box.settled()
    const again = await Outbox.open(dir, { logger })
    await again.append(entries(5, 5))
    expect(chunkOf((await again.take(5, 'r')).id)).toBeGreaterThan(first)
  })

  it('reloads partial deliveries and cap trims from small offset documents', async () => {
    const box = await Outbox.open(dir, { logger, maxPerStream: 100 })
    await box.append(entries(0, 50))
    const first = await box.take(20, 'r')
    first.ack()
    first.release()
    await box.settled()
    await box.append(entries(50, 100)) // 130 buffered > 100 + slack: the oldest go
    expect(box.buffered).toBe(100)
    expect(box.dropped.get('/a')).toBe(30)
    const again = await Outbox.open(dir, { logger, maxPerStream: 100 })
    expect(await drain(again)).toEqual(Array.from({ length: 100 }, (_, k) => 50 + k))
  })

  it('restarts after a torn last line (a kill in the middle of a write) and keeps the rest', async () => {
    const box = await Outbox.open(dir, { logger })
    await box.append(entries(0, 10))
    await box.append(entries(10, 10))
    const [seg] = await readdir(dir)
    await appendFile(join(dir, seg as string), '{"_id":"c3","s":3,"t":1,"e":[{"p":"/a","u":"u","r":[[1,')
    const again = await Outbox.open(dir, { logger })
    expect(await drain(again)).toEqual(Array.from({ length: 20 }, (_, k) => k))
    // and it goes on writing (into a new segment, never after the torn line)
    await again.append(entries(20, 5))
    const third = await Outbox.open(dir, { logger })
    expect(await drain(third)).toEqual(Array.from({ length: 25 }, (_, k) => k))
  })

  it('survives a crash during NeDB compaction, before or after the temporary file is complete', async () => {
    const box = await Outbox.open(dir, { logger })
    await box.append(entries(0, 10))
    const file = join(dir, 'seg-00000001.db')
    // crash while writing the compacted copy: a partial temporary file beside the real one
    await writeFile(`${file}~`, (await readFile(file, 'utf8')).slice(0, 30))
    expect(await drain(await Outbox.open(dir, { logger }))).toEqual(Array.from({ length: 10 }, (_, k) => k))
    // crash between removing the old file and renaming the new one into place
    await rename(file, `${file}~`)
    expect(await drain(await Outbox.open(dir, { logger }))).toEqual(Array.from({ length: 10 }, (_, k) => k))
  })

  it.skipIf(!canMount)('stops writing on a full disk, says so, keeps what it had, and recovers when space returns', async () => {
    const mnt = join(dir, 'mnt')
    await mkdir(mnt)
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt])
    try {
      const box = await Outbox.open(mnt, { logger, maxPerStream: 1_000_000 })
      const stored: number[] = []
      let failed: Error | undefined
      for (let i = 0; i < 200 && !failed; i++) {
        try {
          await box.append(entries(i * 100, 100))
          for (let k = 0; k < 100; k++) stored.push(i * 100 + k)
        } catch (err) {
          failed = err as Error
        }
      }
      expect((failed as NodeJS.ErrnoException | undefined)?.code).toBe('ENOSPC')
      expect(box.writeError).toMatch(/no space left on device/i)
      expect(await drain(box)).toEqual(stored)

      // space returns
      execFileSync('mount', ['-o', 'remount,size=4m', mnt])
      await box.append(entries(100_000, 100))
      expect(box.writeError).toBeUndefined()
      // nothing that was acknowledged as stored is lost or glued to a torn line
      const again = await Outbox.open(mnt, { logger, maxPerStream: 1_000_000 })
      expect(await drain(again)).toEqual([...stored, ...Array.from({ length: 100 }, (_, k) => 100_000 + k)])
    } finally {
      execFileSync('umount', ['-l', mnt])
    }
  })
})

describe('a damaged outbox', () => {
  let dir: string
  const lines: string[] = []
  const log: Logger = { info: () => {}, warn: (m) => void lines.push(m), error: (m) => void lines.push(m) }
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-outbox-damaged-'))
    lines.length = 0
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('keeps a copy of a segment with damaged lines in quarantine/, says so, and delivers what can be read', async () => {
    const box = await Outbox.open(dir, { logger: log })
    for (let i = 0; i < 3; i++) await box.append(entries(i * 10, 10))
    const file = join(dir, 'seg-00000001.db')
    const text = await readFile(file, 'utf8')
    const [first, second, ...rest] = text.split('\n')
    // 40 zeroed bytes in the middle line
    await writeFile(file, [first, `${(second as string).slice(0, 20)}${'\u0000'.repeat(40)}${(second as string).slice(60)}`, ...rest].join('\n'))
    const again = await Outbox.open(dir, { logger: log })
    expect(await drain(again)).toEqual([...Array.from({ length: 10 }, (_, k) => k), ...Array.from({ length: 10 }, (_, k) => 20 + k)])
    expect(again.quarantined).toEqual([{ file, kept: expect.stringMatching(/quarantine\/seg-00000001\.db\.\d+$/), problem: '1 damaged line; what can be read is kept' }])
    expect(await readFile(again.quarantined[0]?.kept as string, 'utf8')).toContain('\u0000')
    expect(lines).toEqual([expect.stringMatching(/^outbox segment .*seg-00000001\.db: 1 damaged line; what can be read is kept; a copy is kept in .*quarantine/)])
  })

  it('never deletes a segment that is all garbage', async () => {
    await writeFile(join(dir, 'seg-00000001.db'), 'garbage\n'.repeat(50))
    const box = await Outbox.open(dir, { logger: log })
    expect(box.buffered).toBe(0)
    expect(box.quarantined[0]?.problem).toBe('50 damaged lines; what can be read is kept')
    expect((await readFile(box.quarantined[0]?.kept as string, 'utf8')).length).toBe(400)
  })

  it('sets aside a directory where a segment file should be, and starts', async () => {
    await mkdir(join(dir, 'seg-00000001.db'))
    const box = await Outbox.open(dir, { logger: log })
    await box.append(entries(0, 5))
    expect(await drain(box)).toEqual([0, 1, 2, 3, 4])
    expect(box.quarantined[0]).toMatchObject({ file: join(dir, 'seg-00000001.db'), problem: 'not a file' })
    expect(await readdir(join(dir, 'quarantine'))).toHaveLength(1)
  })
})

describe('the outbox in memory', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-outbox-mem-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('keeps only a window of readings parsed, and reads the rest back from disk in order as they are taken', async () => {
    let box = await Outbox.open(dir, { logger, memoryReadings: 250, chunkReadings: 100, maxPerStream: 100_000 })
    for (let i = 0; i < 20; i++) await box.append([...entries(i * 50, 50, '/a'), ...entries(i * 50, 50, '/b')])
    expect(box.buffered).toBe(2000)
    expect(box.warmReadings).toBeLessThanOrEqual(250)
    const got: Array<[string, number]> = []
    for (;;) {
      const lease = await box.take(150, 'r')
      if (lease.count === 0) break
      expect(box.warmReadings).toBeLessThanOrEqual(250 + 150)
      lease.forEach((e, from, to) => e.r.slice(from, to).forEach(([, v]) => got.push([e.p, v as number])))
      lease.ack()
      lease.release()
      if (got.length === 1000) {
        // half way: a restart reads back what is left, within the window too
        await box.settled()
        box = await Outbox.open(dir, { logger, memoryReadings: 250, chunkReadings: 100, maxPerStream: 100_000 })
        expect(box.buffered).toBe(1000)
        expect(box.warmReadings).toBeLessThanOrEqual(250)
      }
    }
    await box.settled()
    expect(box.warmReadings).toBe(0)
    for (const p of ['/a', '/b']) expect(got.filter(([q]) => q === p).map(([, v]) => v)).toEqual(Array.from({ length: 1000 }, (_, k) => k))
  })

  it('lets go of the files it is not reading, and loads them again in turn as delivery reaches them', async () => {
    const box = await Outbox.open(dir, { logger, memoryReadings: 100, chunkReadings: 100, segmentReadings: 200, maxPerStream: 100_000 })
    for (let i = 0; i < 40; i++) await box.append(entries(i * 100, 100))
    expect((await readdir(dir)).length).toBe(20)
    // the oldest (read next), the newest (appended to), and what is warm: not the whole backlog
    expect(box.loadedSegments).toBeLessThanOrEqual(3)
    const values: number[] = []
    for (;;) {
      const lease = await box.take(150, 'r')
      if (lease.count === 0) break
      lease.forEach((e, from, to) => e.r.slice(from, to).forEach(([, v]) => values.push(v as number)))
      lease.ack()
      lease.release()
      await box.settled()
      expect(box.loadedSegments).toBeLessThanOrEqual(3)
    }
    expect(values).toEqual(Array.from({ length: 4000 }, (_, k) => k))
    expect(await readdir(dir)).toEqual([])
  })

  it('trims cold chunks by the cap without reading them back', async () => {
    const box = await Outbox.open(dir, { logger, memoryReadings: 100, chunkReadings: 100, maxPerStream: 300 })
    for (let i = 0; i < 10; i++) await box.append(entries(i * 100, 100))
    expect(box.buffered).toBeLessThanOrEqual(330)
    expect(box.warmReadings).toBeLessThanOrEqual(100)
    const kept = await drain(box)
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, k) => 1000 - kept.length + k))
    expect(box.dropped.get('/a')).toBe(1000 - kept.length)
  })
})

describe('an outbox of many small chunks', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-outbox-small-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })
  const values = async (box: Outbox, p: string): Promise<number[]> => {
    const lease = await box.take(Number.MAX_SAFE_INTEGER, 'r')
    const out: number[] = []
    lease.forEach((e, from, to) => e.p === p && e.r.slice(from, to).forEach(([, v]) => out.push(v as number)))
    lease.release()
    return out
  }

  it('rewrites a sealed segment as a few big chunks, keeping every undelivered reading in order', async () => {
    // the segment is closed when its 400th reading is written: by the 200th append
    const box = await Outbox.open(dir, { logger, segmentReadings: 400, memoryReadings: 50 })
    for (let i = 0; i < 199; i++) await box.append([...entries(i, 1, '/a'), ...entries(i, 1, '/b')])
    // a partial delivery first: what it took is not rewritten
    const first = await box.take(30, 'r')
    const taken = new Set<string>()
    first.forEach((e, from, to) => e.r.slice(from, to).forEach(([, v]) => taken.add(`${e.p}:${v as number}`)))
    first.ack()
    first.release()
    await box.settled()
    await box.append([...entries(199, 1, '/a'), ...entries(199, 1, '/b')]) // closed, and rewritten
    await box.append(entries(200, 1, '/a')) // into the next segment
    await box.settled()
    expect(box.chunks).toBe(2)
    expect(box.buffered).toBe(400 - 30 + 1)
    expect((await readdir(dir)).filter((f) => f.endsWith('.merge'))).toEqual([])
    const left = (p: string, n: number): number[] => Array.from({ length: n }, (_, k) => k).filter((v) => !taken.has(`${p}:${v}`))
    const a = left('/a', 201)
    const b = left('/b', 200)
    expect(a.length + b.length).toBe(371)
    expect(await values(box, '/a')).toEqual(a)
    expect(await values(box, '/b')).toEqual(b)
    const again = await Outbox.open(dir, { logger })
    expect(await values(again, '/a')).toEqual(a)
    expect(await values(again, '/b')).toEqual(b)
    expect(again.restored).toBe(400 - 30 + 1)
  })

  it('lends each reading once when delivery takes from a segment while it is being rewritten', async () => {
    for (let round = 0; round < 5; round++) {
      const sub = join(dir, String(round))
      const box = await Outbox.open(sub, { logger, segmentReadings: 200, memoryReadings: 20, maxPerStream: 100_000 })
      logger.lines.length = 0
      for (let i = 0; i < 100; i++) await box.append(entries(i * 2, 2)) // the 100th closes the segment: its rewrite is under way
      const got: number[] = []
      for (;;) {
        const lease = await box.take(7, 'r')
        if (lease.count === 0) break
        lease.forEach((e, from, to) => e.r.slice(from, to).forEach(([, v]) => got.push(v as number)))
        expect(lease.ack()).toBe(lease.count)
        lease.release()
      }
      await box.settled()
      expect(got).toEqual(Array.from({ length: 200 }, (_, k) => k))
      expect([box.buffered, box.droppedTotal]).toEqual([0, 0])
      expect(logger.lines).toEqual([])
    }
  })

  it('rewrites small chunks found at start, and ignores a rewrite a crash cut short', async () => {
    const box = await Outbox.open(dir, { logger })
    for (let i = 0; i < 100; i++) await box.append(entries(i, 1))
    await box.settled()
    const [seg] = await readdir(dir)
    await writeFile(join(dir, `${seg as string}.merge`), '{"_id":"c1","s":1,"t":1,"j":"[{\\"p\\":\\"/a\\",\\"u\\":\\"u\\",\\"r\\":[[1,999')
    const again = await Outbox.open(dir, { logger })
    expect(again.chunks).toBe(1)
    expect(await readdir(dir)).toEqual([seg])
    expect(await drain(again)).toEqual(Array.from({ length: 100 }, (_, k) => k))
    const third = await Outbox.open(dir, { logger })
    expect(await drain(third)).toEqual(Array.from({ length: 100 }, (_, k) => k))
  })
})

describe('the outbox on disk while delivery keeps up', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-outbox-disk-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('reclaims delivered data: segments close by size and age, not only by count, so the files stay about one segment', async () => {
    const box = await Outbox.open(dir, { logger, segmentBytes: 64 * 1024, segmentAgeMs: 50 })
    let largest = 0
    for (let round = 0; round < 60; round++) {
      await box.append(entries(round * 200, 200))
      const lease = await box.take(1_000_000, 'r')
      lease.ack()
      lease.release()
      await box.settled()
      largest = Math.max(largest, await box.bytes())
      if (round % 10 === 0) await new Promise((r) => setTimeout(r, 60))
    }
    // 60 rounds of ~5 KB each were written: 300 KB with no reclaiming
    expect(largest).toBeLessThan(80 * 1024)
    expect(box.undeliveredBytes).toBe(0)
    expect((await readdir(dir)).length).toBeLessThanOrEqual(1)
  })

  it('tells undelivered bytes apart from the bytes of the files', async () => {
    const box = await Outbox.open(dir, { logger })
    await box.append(entries(0, 1000))
    const before = box.undeliveredBytes
    expect(before).toBeGreaterThan(10_000)
    const lease = await box.take(500, 'r')
    lease.ack()
    lease.release()
    await box.settled()
    expect(box.undeliveredBytes).toBeCloseTo(before / 2, -2)
    expect(await box.bytes()).toBeGreaterThan(before)
  })
})
