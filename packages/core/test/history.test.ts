import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineDriver } from '@smap/sdk'
import { importHistory, SmapInstance, type ImportProgress, type Logger } from '@smap/core'
import { Store } from '../src/reporting/store.js'
import { startSink, type Sink } from './_sink.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const FIVE_MIN = 300_000
const DAY = 86_400_000
const START = Date.UTC(2024, 0, 1)
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} }

/** A driver whose history is a reading every 5 minutes; it can be told to fail on some days, and records the ranges it was given. */
function historyDriver(failOn: (dayStart: number, attempt: number) => boolean = () => false, ranges: Array<[string, string]> = []) {
  const attempts = new Map<number, number>()
  return defineDriver({
    name: 'history',
    setup(ctx) {
      ctx.addTimeseries('/a', 'a', 'W')
      ctx.addTimeseries('/b', 'b', 'W')
    },
    load(ctx, { start, end }) {
      ranges.push([new Date(start).toISOString(), new Date(end).toISOString()])
      const attempt = (attempts.get(start) ?? 0) + 1
      attempts.set(start, attempt)
      for (let t = start; t < end; t += FIVE_MIN) {
        ctx.add('/a', t, t / FIVE_MIN)
        // half a chunk in, a failure: what it added so far must not be sent
        if (t === start + Math.floor((end - start) / 2 / FIVE_MIN) * FIVE_MIN && failOn(start, attempt)) throw new Error(`feed unavailable for ${new Date(start).toISOString().slice(0, 10)}`)
        ctx.add('/b', t, -t / FIVE_MIN)
      }
    },
  })
}

describe('importHistory', () => {
  let dir: string
  let sink: Sink
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-import-'))
    sink = await startSink()
  })
  afterEach(async () => {
    await sink.close()
    await rm(dir, { recursive: true, force: true })
  })

  // UTC days unless a test says otherwise, so a chunk is 24 hours from midnight UTC
  const source = async (driver = historyDriver(), maxBuffer = 100_000, timezone = 'UTC'): Promise<SmapInstance> => {
    const inst = new SmapInstance(ROOT, { logger: quiet, timezone, server: { dataDir: dir, flushInterval: 10, retryBackoff: 5, maxRetryBackoff: 50 } })
    inst.addDriver('/hist', driver, {}, { ref: 'history' })
    await inst.addReport({ uuid: '88888888-8888-4888-8888-888888888888', ReportResource: '/+', ReportDeliveryLocation: sink.url, MaxBuffer: maxBuffer })
    return inst
  }
  const expectedA = (days: number): number[] => Array.from({ length: (days * DAY) / FIVE_MIN }, (_, k) => START / FIVE_MIN + k)

  it('imports a chunk a day, delivers every reading once, and reports progress', async () => {
    const inst = await source()
    const seen: ImportProgress[] = []
    const result = await importHistory(inst, { start: START, end: START + 3 * DAY, onProgress: (p) => seen.push(p) })
    await inst.stop()
    expect(result).toMatchObject({ readings: 3 * 288 * 2, chunks: 3, resumed: 0 })
    expect(sink.values('/hist/a')).toEqual(expectedA(3))
    expect(sink.values('/hist/b')).toEqual(expectedA(3).map((v) => -v))
    expect(seen.filter((p) => p.phase === 'import').map((p) => [p.chunksDone, p.chunkStart])).toEqual([
      [1, START],
      [2, START + DAY],
      [3, START + 2 * DAY],
    ])
    expect(seen.at(-1)).toMatchObject({ phase: 'done', undelivered: 0 })
  })

  it('retries a failing chunk without sending what the failed attempt added', async () => {
    const inst = await source(historyDriver((day, attempt) => day === START + DAY && attempt === 1))
    await importHistory(inst, { start: START, end: START + 2 * DAY })
    await inst.stop()
    expect(sink.values('/hist/a')).toEqual(expectedA(2))
  })

  it('stops with the chunk that keeps failing, then resumes there without sending anything twice', async () => {
    const first = await source(historyDriver((day) => day === START + 2 * DAY))
    await expect(importHistory(first, { start: START, end: START + 4 * DAY, attempts: 1 })).rejects.toThrow(
      'driver /hist (history) failed to import 2024-01-03T00:00:00.000Z to 2024-01-04T00:00:00.000Z (attempt 1 of 1): feed unavailable for 2024-01-03; run the same command again to resume there',
    )
    await first.stop()
    const second = await source()
    const result = await importHistory(second, { start: START, end: START + 4 * DAY })
    await second.stop()
    expect(result).toMatchObject({ chunks: 4, resumed: 2, readings: 2 * 288 * 2 })
    expect(sink.values('/hist/a')).toEqual(expectedA(4))
  })

  it('waits for the subscriber before each chunk, so a slow one never loses imported readings to the cap', async () => {
    // 288 readings a day per stream, room for 600: without waiting, day 3 would overflow the buffer
    sink.behave(() => ({ delayMs: 150 }))
    const inst = await source(historyDriver(), 600)
    await importHistory(inst, { start: START, end: START + 6 * DAY })
    await inst.stop()
    expect(sink.uniqueValues('/hist/a')).toEqual(expectedA(6))
  })

  it('fails, saying how to fix it, when one chunk alone is more than a subscriber keeps per stream', async () => {
    const inst = await source(historyDriver(), 100)
    await expect(importHistory(inst, { start: START, end: START + DAY })).rejects.toThrow(
      /^\d+ imported readings were dropped because a subscriber's buffer for a stream was full \(MaxBuffer\); raise MaxBuffer in the \[report\] section above the readings one chunk brings per stream, or use shorter chunks \(--chunk-hours\), and import again with --restart$/,
    )
    await inst.stop()
  })

  it('says what is missing: a driver with load(), a report, a sane range', async () => {
    const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir } })
    inst.addDriver('/live', defineDriver({ name: 'live', setup() {} }), {}, { ref: 'live' })
    await expect(importHistory(inst, { start: START, end: START + DAY })).rejects.toThrow('no driver at or below / can import history: /live (live) has no load()')
    await expect(importHistory(inst, { start: START, end: START + DAY, path: '/elsewhere' })).rejects.toThrow('no driver at or below /elsewhere in this config')
    inst.addDriver('/hist', historyDriver(), {}, { ref: 'history' })
    await expect(importHistory(inst, { start: START, end: START + DAY })).rejects.toThrow(/^the config has no \[report\] section, so nothing would receive the imported readings/)
    await expect(importHistory(inst, { start: START + DAY, end: START })).rejects.toThrow('the import range must have its start before its end, got 2024-01-02T00:00:00.000Z to 2024-01-01T00:00:00.000Z')
  })

  describe('in local days', () => {
    const iso = (t: string): number => Date.parse(t)
    const valuesBetween = (from: string, to: string): number[] => Array.from({ length: (iso(to) - iso(from)) / FIVE_MIN }, (_, k) => iso(from) / FIVE_MIN + k)

    it('makes each chunk one calendar day of the source: 23 hours when clocks go forward, 25 when they go back', async () => {
      const ranges: Array<[string, string]> = []
      const inst = await source(historyDriver(undefined, ranges), 100_000, 'America/Los_Angeles')
      const seen: ImportProgress[] = []
      // Pacific midnights of 2024-03-09 to 03-12, and of 11-02 to 11-05, as imports one after the other
      const spring = await importHistory(inst, { start: iso('2024-03-09T08:00Z'), end: iso('2024-03-12T07:00Z'), onProgress: (p) => seen.push(p) })
      const fall = await importHistory(inst, { start: iso('2024-11-02T07:00Z'), end: iso('2024-11-05T08:00Z') })
      await inst.stop()
      expect(ranges).toEqual([
        ['2024-03-09T08:00:00.000Z', '2024-03-10T08:00:00.000Z'],
        ['2024-03-10T08:00:00.000Z', '2024-03-11T07:00:00.000Z'],
        ['2024-03-11T07:00:00.000Z', '2024-03-12T07:00:00.000Z'],
        ['2024-11-02T07:00:00.000Z', '2024-11-03T07:00:00.000Z'],
        ['2024-11-03T07:00:00.000Z', '2024-11-04T08:00:00.000Z'],
        ['2024-11-04T08:00:00.000Z', '2024-11-05T08:00:00.000Z'],
      ])
      expect([spring.chunks, fall.chunks]).toEqual([3, 3])
      expect(seen.filter((p) => p.phase === 'import').map((p) => [p.chunksDone, p.chunks, ((p.chunkEnd as number) - (p.chunkStart as number)) / 3_600_000])).toEqual([
        [1, 3, 24],
        [2, 3, 23],
        [3, 3, 24],
      ])
      expect(sink.values('/hist/a')).toEqual([...valuesBetween('2024-03-09T08:00Z', '2024-03-12T07:00Z'), ...valuesBetween('2024-11-02T07:00Z', '2024-11-05T08:00Z')])
    })

    it('cuts the first and last chunk at the range and follows the zone it is given over the source\'s', async () => {
      const ranges: Array<[string, string]> = []
      const inst = await source(historyDriver(undefined, ranges), 100_000, 'America/Los_Angeles')
      // Berlin goes forward on 2024-03-31: its midnights are 23:00Z, then 22:00Z
      await importHistory(inst, { start: iso('2024-03-30T12:00Z'), end: iso('2024-04-01T06:00Z'), timezone: 'Europe/Berlin' })
      // and a fixed length starts at the start, whatever the zone
      await importHistory(inst, { start: iso('2024-03-10T06:00Z'), end: iso('2024-03-10T20:00Z'), chunkMs: 6 * 3_600_000 })
      await inst.stop()
      expect(ranges).toEqual([
        ['2024-03-30T12:00:00.000Z', '2024-03-30T23:00:00.000Z'],
        ['2024-03-30T23:00:00.000Z', '2024-03-31T22:00:00.000Z'],
        ['2024-03-31T22:00:00.000Z', '2024-04-01T06:00:00.000Z'],
        ['2024-03-10T06:00:00.000Z', '2024-03-10T12:00:00.000Z'],
        ['2024-03-10T12:00:00.000Z', '2024-03-10T18:00:00.000Z'],
        ['2024-03-10T18:00:00.000Z', '2024-03-10T20:00:00.000Z'],
      ])
      await expect(importHistory(await source(), { start: START, end: START + DAY, timezone: 'Mars/Olympus' })).rejects.toThrow(
        'the import: unknown time zone "Mars/Olympus"; use an IANA name such as America/Los_Angeles or UTC',
      )
    })

    it('resumes where an earlier run with other chunks stopped, inside a chunk, without a gap or a repeat', async () => {
      const from = '2024-03-09T08:00Z'
      const to = '2024-03-12T07:00Z'
      // 6-hour chunks; the one from 2024-03-10T14:00Z keeps failing
      const first = await source(historyDriver((t) => t === iso('2024-03-10T14:00Z')), 100_000, 'America/Los_Angeles')
      await expect(importHistory(first, { start: iso(from), end: iso(to), chunkMs: 6 * 3_600_000, attempts: 1 })).rejects.toThrow(/^driver \/hist \(history\) failed to import 2024-03-10T14:00:00.000Z/)
      await first.stop()
      const ranges: Array<[string, string]> = []
      const second = await source(historyDriver(undefined, ranges), 100_000, 'America/Los_Angeles')
      const result = await importHistory(second, { start: iso(from), end: iso(to) })
      await second.stop()
      // day chunks now: the first day was done, the second only up to 14:00Z
      expect(result).toMatchObject({ chunks: 3, resumed: 1 })
      expect(ranges).toEqual([
        ['2024-03-10T14:00:00.000Z', '2024-03-11T07:00:00.000Z'],
        ['2024-03-11T07:00:00.000Z', '2024-03-12T07:00:00.000Z'],
      ])
      expect(sink.values('/hist/a')).toEqual(valuesBetween(from, to))
    })

    it('reads a record left by the UTC chunking of earlier versions as the time it reached, so a resume skips nothing', async () => {
      // an exact range from Pacific midnight: the old record says 2 chunks of 24 hours were done, up to 2024-11-04T07:00Z,
      // while the second local day ends an hour later (fall back); counting local days instead would lose that hour
      const from = '2024-11-02T07:00Z'
      const to = '2024-11-05T08:00Z'
      const ranges: Array<[string, string]> = []
      const inst = await source(historyDriver(undefined, ranges), 100_000, 'America/Los_Angeles')
      const store = await Store.open<{ _id: string; done: number }>(join(dir, 'imports.db'))
      const namespace = inst.drivers.get('/hist')?.namespace as string
      await store.put({ _id: `/hist|${namespace}|${iso(from)}|${iso(to)}|${DAY}`, done: 2 })
      const result = await importHistory(inst, { start: iso(from), end: iso(to) })
      expect(result).toMatchObject({ chunks: 3, resumed: 1 })
      expect(ranges).toEqual([
        ['2024-11-04T07:00:00.000Z', '2024-11-04T08:00:00.000Z'],
        ['2024-11-04T08:00:00.000Z', '2024-11-05T08:00:00.000Z'],
      ])
      expect(sink.values('/hist/a')).toEqual(valuesBetween('2024-11-04T07:00Z', to))
      // --restart forgets the old record too
      ranges.length = 0
      await importHistory(inst, { start: iso(from), end: iso(to), restart: true })
      await inst.stop()
      expect(ranges).toHaveLength(3)
    })

    it('goes on from where an import from the same start got, so a later --end imports only what is new', async () => {
      const from = '2024-03-09T08:00Z'
      const ranges: Array<[string, string]> = []
      const inst = await source(historyDriver(undefined, ranges), 100_000, 'America/Los_Angeles')
      // an old record of an import to 09:00Z that did its one (cut) chunk: it reached 09:00Z, not a day past the start
      const store = await Store.open<{ _id: string; done: number }>(join(dir, 'imports.db'))
      const namespace = inst.drivers.get('/hist')?.namespace as string
      await store.put({ _id: `/hist|${namespace}|${iso(from)}|${iso('2024-03-09T09:00Z')}|${DAY}`, done: 1 })
      await importHistory(inst, { start: iso(from), end: iso('2024-03-10T08:00Z') })
      const later = await importHistory(inst, { start: iso(from), end: iso('2024-03-11T07:00Z') })
      await inst.stop()
      expect(later).toMatchObject({ chunks: 2, resumed: 1 })
      expect(ranges).toEqual([
        ['2024-03-09T09:00:00.000Z', '2024-03-10T08:00:00.000Z'],
        ['2024-03-10T08:00:00.000Z', '2024-03-11T07:00:00.000Z'],
      ])
      expect(sink.values('/hist/a')).toEqual(valuesBetween('2024-03-09T09:00Z', '2024-03-11T07:00Z'))
    })
  })
})
