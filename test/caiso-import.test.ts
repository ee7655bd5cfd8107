import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startSink, type Sink } from '../packages/core/test/_sink.js'
import { startFixtureServer, type FixtureServer } from '../packages/driver-caiso/test/_fixture-server.js'
import { outlookHistoryDay } from '../packages/driver-caiso/test/fixtures/outlook-days.js'
import { addDays, outlookReadings, pacificMidnight, ymd, type Ymd } from './_caiso.js'
import { runSmap, SMAP_BIN, start, type Running } from './_process.js'

// A recorded importer run: a month of CAISO Today's Outlook history (March 2024, with the day
// clocks go forward) through `smap load` of the built CLI, killed with SIGKILL in the middle and
// run again to completion. `--start 2024-03-01` is Pacific midnight (the root has no
// Properties/Timezone), so each chunk is one Pacific day and the file of that day. The sink must end up with every reading exactly once when it counts
// each X-Smap-Batch-Id once (as `smap sink` does); at most the batch in flight at the kill
// arrives twice. Its figures are printed (SMAP_IMPORT_REPORT=0 keeps them quiet).

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const FILES = ['demand', 'netdemand', 'fuelsource'] as const
// Pacific midnights: 2024-03-01 (PST) and 2024-04-01 (PDT)
const START = Date.UTC(2024, 2, 1, 8)
const END = Date.UTC(2024, 3, 1, 7)
const ARGS = ['load', 'conf.ini', '--start', '2024-03-01', '--end', '2024-04-01']
const packageDir = (name: string): string => fileURLToPath(new URL(`../packages/${name}`, import.meta.url))

/** Every reading the import should deliver, per full stream path: each Pacific day's from that day's file (a trailing 00:00 is the next day's). */
function expectedReadings(history: Map<string, string>): Map<string, Array<[number, number]>> {
  const out = new Map<string, Map<number, number>>()
  for (let day: Ymd = [2024, 3, 1]; ymd(day) <= '20240331'; day = addDays(day, 1)) {
    const from = pacificMidnight(day)
    const to = pacificMidnight(addDays(day, 1))
    for (const file of FILES) {
      for (const [path, readings] of outlookReadings(history.get(`${ymd(day)}/${file}.csv`) as string, day, file)) {
        const times = out.get(`/caiso${path}`) ?? new Map<number, number>()
        for (const [t, v] of readings) if (t >= from && t < to && !times.has(t)) times.set(t, v)
        out.set(`/caiso${path}`, times)
      }
    }
  }
  return new Map([...out].map(([p, times]) => [p, [...times].sort((a, b) => a[0] - b[0])]))
}

/** Readings of a path over the accepted reports, each batch id once. */
function readingsOf(sink: Sink, path: string): Array<[number, number]> {
  const seen = new Set<string>()
  return sink.accepted.filter((r) => r.batchId === undefined || (!seen.has(r.batchId) && seen.add(r.batchId))).flatMap((r) => r.body[path]?.Readings ?? [])
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`

describe('smap load with the CAISO driver', () => {
  let dir: string
  let fx: FixtureServer
  const sinks: Sink[] = []
  let running: Running | undefined

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-caiso-import-'))
    fx = await startFixtureServer()
    for (let day: Ymd = [2024, 3, 1]; ymd(day) <= '20240331'; day = addDays(day, 1)) {
      for (const file of FILES) fx.history.set(`${ymd(day)}/${file}.csv`, outlookHistoryDay(file, ...day))
    }
    await mkdir(join(dir, 'node_modules', '@smap'), { recursive: true })
    for (const name of ['driver-caiso', 'sdk']) await symlink(packageDir(name), join(dir, 'node_modules', '@smap', name), 'dir')
  })

  afterEach(async () => {
    running?.child.kill('SIGKILL')
    if (running) await running.exited
    running = undefined
    for (const s of sinks.splice(0)) await s.close()
    await fx.close()
    await rm(dir, { recursive: true, force: true })
  })

  /** A site with the CAISO driver (no prices) reporting to a new sink. */
  async function site(name: string): Promise<{ cwd: string; sink: Sink }> {
    const sink = await startSink()
    sinks.push(sink)
    const cwd = join(dir, name)
    await mkdir(cwd)
    await symlink(join(dir, 'node_modules'), join(cwd, 'node_modules'), 'dir')
    await writeFile(
      join(cwd, 'conf.ini'),
      `[server]\nRetryBackoff = 10\nMaxRetryBackoff = 200\n\n[/]\nuuid = ${ROOT}\n\n` +
        `[/caiso]\ntype = smap.drivers.caiso.CaIsoDriver\nOutlookUrl = ${fx.outlookUrl}\nOasisUrl = ${fx.oasisUrl}\n\n` +
        `[report 0]\nReportDeliveryLocation = ${sink.url}\nReportResource = /+\nMaxBuffer = 100000\n`,
    )
    return { cwd, sink }
  }

  it('imports a month of history, resumes after a kill -9 and delivers each reading exactly once', async () => {
    const expected = expectedReadings(fx.history)
    const total = [...expected.values()].reduce((n, rs) => n + rs.length, 0)
    // 22 streams, every 5 minutes of the Pacific month: 31 days, March 10 of 23 hours (its file keeps 02:00–02:55 as blank rows)
    expect(expected.size).toBe(22)
    const current = expected.get('/caiso/demand/current') ?? []
    expect(current).toHaveLength((31 * 24 - 1) * 12)
    expect(current.every(([t], i) => t === START + i * 300_000)).toBe(true)
    expect(current.at(-1)?.[0]).toBe(END - 300_000)

    // the whole month in one run
    const full = await site('full')
    let t0 = Date.now()
    const whole = await runSmap(ARGS, { cwd: full.cwd })
    const fullMs = Date.now() - t0
    expect(whole.code, whole.output).toBe(0)
    expect(whole.output).toMatch(new RegExp(`imported ${total} readings in 31 chunks in [\\d:]+; every reading acknowledged\\n$`))
    expect(whole.output).toContain('chunk 10/31 /caiso 2024-03-10T00:00-08:00 (23 h): ')
    expect(whole.output).toContain('chunk 11/31 /caiso 2024-03-11T00:00-07:00: ')
    for (const [path, readings] of expected) expect(readingsOf(full.sink, path), path).toEqual(readings)
    const fullRaw = [...expected.keys()].reduce((n, p) => n + full.sink.values(p).length, 0)
    expect(fullRaw).toBe(total)

    // the same, killed with SIGKILL after a third of the chunks, then run again
    const { cwd, sink } = await site('killed')
    t0 = Date.now()
    running = start(SMAP_BIN, ARGS, { cwd })
    const [, progress] = await running.waitFor(/chunk (1[0-9])\/31 /, 30_000)
    running.child.kill('SIGKILL')
    await running.exited
    const killedMs = Date.now() - t0
    running = undefined
    const before = [...expected.keys()].reduce((n, p) => n + sink.values(p).length, 0)
    expect(before).toBeLessThan(total)

    t0 = Date.now()
    const again = await runSmap(ARGS, { cwd })
    const resumedMs = Date.now() - t0
    expect(again.code, again.output).toBe(0)
    const resumed = /imported (\d+) readings in (\d+) chunks \((\d+) done by an earlier run\)/.exec(again.output)
    expect(resumed, again.output).not.toBeNull()

    for (const [path, readings] of expected) {
      expect(readingsOf(sink, path), path).toEqual(readings)
      expect(sink.uniqueValues(path), path).toHaveLength(readings.length)
    }
    const raw = [...expected.keys()].reduce((n, p) => n + sink.values(p).length, 0)
    const ids = sink.accepted.map((r) => r.batchId)
    const repeatedBatches = new Set(ids.filter((id, i) => ids.indexOf(id) !== i)).size
    // at most the batch in flight at the kill arrived twice
    expect(repeatedBatches).toBeLessThanOrEqual(1)
    expect(raw - total).toBeLessThanOrEqual(10_000)

    if (process.env.SMAP_IMPORT_REPORT !== '0') {
      console.log(
        [
          `CAISO import, 2024-03-01 to 2024-04-01 (31 Pacific-day chunks, March 10 of 23 hours, ${expected.size} streams, 93 history files):`,
          `  full run:    ${total} readings imported and acknowledged in ${seconds(fullMs)}`,
          `  killed run:  SIGKILL after chunk ${progress}/31 at ${seconds(killedMs)}; ${before} readings had reached the sink`,
          `  resumed run: ${resumed?.[1]} readings in ${resumed?.[2]} chunks (${resumed?.[3]} done before the kill) in ${seconds(resumedMs)}`,
          `  duplicates before batch-id dedupe: ${raw - total} readings in ${repeatedBatches} repeated batch${repeatedBatches === 1 ? '' : 'es'}; after: 0`,
        ].join('\n'),
      )
    }
  }, 60_000)
})
