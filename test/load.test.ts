import { existsSync } from 'node:fs'
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startSink, type Sink } from '../packages/core/test/_sink.js'
import { runSmap, SMAP_BIN, start, type Running } from './_process.js'

const FIVE_MIN = 300_000
const HOUR = 3_600_000
// Pacific midnight, 2024-03-01: the config's root has no Properties/Timezone, so America/Los_Angeles
const START = Date.UTC(2024, 2, 1, 8)
const conf = (sinkUrl: string, root = ''): string =>
  `[server]\nRetryBackoff = 10\nMaxRetryBackoff = 200\n\n[/]\nuuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92\n${root}\n[/hist]\ntype = ./history-driver.js\n\n[report archive]\nReportDeliveryLocation = ${sinkUrl}\nReportResource = /+\nMaxBuffer = 100000\n`

describe('smap load', () => {
  let dir: string
  let sink: Sink
  let running: Running | undefined
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-load-'))
    sink = await startSink()
    await copyFile(fileURLToPath(new URL('./fixtures/history-driver.js', import.meta.url)), join(dir, 'history-driver.js'))
    await writeFile(join(dir, 'conf.ini'), conf(sink.url))
  })
  afterEach(async () => {
    running?.child.kill('SIGKILL')
    await sink.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('resumes after a kill in the middle and delivers each reading exactly once, across the day clocks go forward', async () => {
    const args = ['load', 'conf.ini', '--start', '2024-03-01', '--end', '2024-03-31']
    running = start(SMAP_BIN, args, { cwd: dir, env: { HISTORY_DELAY_MS: '100' } })
    await running.waitFor(/chunk 8\/30 /)
    running.child.kill('SIGKILL')
    await running.exited
    const before = sink.values('/hist/a').length
    expect(before).toBeGreaterThan(0)
    // 30 Pacific days, one of them (March 10) 23 hours long
    const count = (30 * 24 - 1) * 12
    expect(before).toBeLessThan(count)

    const again = await runSmap(args, { cwd: dir })
    expect(again.code).toBe(0)
    expect(again.output).toMatch(/\(\d+ done by an earlier run\) in [\d:]+; every reading acknowledged\n$/)
    const expected = Array.from({ length: count }, (_, k) => START / FIVE_MIN + k)
    expect(expected.at(-1)).toBe(Date.UTC(2024, 2, 31, 7) / FIVE_MIN - 1)
    // each reading exactly once, in order, for a receiver that drops repeated batch ids (as smap sink does)
    expect(sink.uniqueValues('/hist/a')).toEqual(expected)
    expect(sink.uniqueValues('/hist/b')).toEqual(expected.map((v) => -v))
    // and at most the batch in flight at the kill was sent twice
    expect(sink.values('/hist/a').length - expected.length).toBeLessThanOrEqual(10_000)
  }, 60_000)

  it('prints plain progress lines when not on a terminal', async () => {
    const { code, output } = await runSmap(['load', 'conf.ini', '--start', '2024-01-01', '--end', '2024-01-03'], { cwd: dir })
    expect(code).toBe(0)
    expect(output).toMatch(/^chunk 1\/2 \/hist 2024-01-01T00:00-08:00: 576 readings, \d+\/s, ETA [\d:]+\nchunk 2\/2 \/hist 2024-01-02T00:00-08:00: 1152 readings, \d+\/s, ETA 0:00\n/)
    expect(output).toMatch(/imported 1152 readings in 2 chunks in [\d:]+; every reading acknowledged\n$/)
  })

  it('explains bad arguments and waits, saying so, while the subscriber is down', async () => {
    expect(await runSmap(['load', 'conf.ini', '--start', 'yesterday', '--end', '2024-01-02'], { cwd: dir })).toEqual({
      code: 1,
      output: `smap load: --start: expected a date like 2024-01-01 or a time like 2024-01-01T08:00 (both in the source's time zone) or 2024-01-01T08:00:00Z or 2024-01-01T08:00-07:00, got "yesterday"\n`,
    })
    expect((await runSmap(['load', 'conf.ini', '--start', '2024-01-02', '--end', '2024-01-01'], { cwd: dir })).output).toBe(
      'smap load: --start (2024-01-02) must be before --end (2024-01-01)\n',
    )
    await sink.down()
    running = start(SMAP_BIN, ['load', 'conf.ini', '--start', '2024-01-01', '--end', '2024-01-02'], { cwd: dir })
    await running.waitFor(/delivering: 576 readings not yet acknowledged/)
    running.child.kill('SIGINT')
    expect(await running.exited).toBe(1)
    expect(running.output()).toContain('smap load: interrupted: completed chunks are recorded and 576 readings wait in the outbox; run the same command again to resume and deliver them')
    await sink.up()
    const again = await runSmap(['load', 'conf.ini', '--start', '2024-01-01', '--end', '2024-01-02'], { cwd: dir })
    expect(again.code).toBe(0)
    expect(sink.values('/hist/a')).toHaveLength(288)
  }, 30_000)

  describe('reads --start and --end in the source\'s time zone', () => {
    /** Runs `smap load ARGS` with a driver that records the ranges it is given; the ranges as [start, end] ISO times. */
    async function ranges(args: string[], cwd = dir): Promise<{ code: number | string; output: string; ranges: string[][] }> {
      const file = join(cwd, `ranges-${Math.random().toString(36).slice(2)}.txt`)
      const run = await runSmap(['load', 'conf.ini', ...args], { cwd, env: { HISTORY_RANGES: file } })
      const text = existsSync(file) ? await readFile(file, 'utf8') : ''
      return { ...run, ranges: text.split('\n').filter(Boolean).map((l) => l.split(' ')) }
    }

    it('takes a plain date as midnight of the root\'s zone, with a 23-hour chunk when clocks go forward and 25 when they go back', async () => {
      const spring = await ranges(['--start', '2024-03-09', '--end', '2024-03-12'])
      expect(spring.code, spring.output).toBe(0)
      expect(spring.ranges).toEqual([
        ['2024-03-09T08:00:00.000Z', '2024-03-10T08:00:00.000Z'],
        ['2024-03-10T08:00:00.000Z', '2024-03-11T07:00:00.000Z'],
        ['2024-03-11T07:00:00.000Z', '2024-03-12T07:00:00.000Z'],
      ])
      expect(spring.output).toMatch(/^chunk 1\/3 \/hist 2024-03-09T00:00-08:00: 576 readings, .*\nchunk 2\/3 \/hist 2024-03-10T00:00-08:00 \(23 h\): 1128 readings, .*\nchunk 3\/3 \/hist 2024-03-11T00:00-07:00: 1704 readings, /)
      const fall = await ranges(['--start', '2024-11-03', '--end', '2024-11-04'])
      expect(fall.ranges).toEqual([['2024-11-03T07:00:00.000Z', '2024-11-04T08:00:00.000Z']])
      expect(fall.output).toMatch(/^chunk 1\/1 \/hist 2024-11-03T00:00-07:00 \(25 h\): 600 readings, /)
      // every instant of the two days reached the subscriber once
      expect(sink.values('/hist/a')).toEqual([
        ...Array.from({ length: 71 * 12 }, (_, k) => Date.UTC(2024, 2, 9, 8) / FIVE_MIN + k),
        ...Array.from({ length: 25 * 12 }, (_, k) => Date.UTC(2024, 10, 3, 7) / FIVE_MIN + k),
      ])
    }, 30_000)

    it('follows Properties/Timezone of the root, and --timezone (or -z) over it', async () => {
      await writeFile(join(dir, 'conf.ini'), conf(sink.url, 'Properties/Timezone = Asia/Kolkata\n'))
      expect((await ranges(['--start', '2024-03-09', '--end', '2024-03-10'])).ranges).toEqual([['2024-03-08T18:30:00.000Z', '2024-03-09T18:30:00.000Z']])
      // a date-time without an offset is a wall time of the zone too
      expect((await ranges(['--start', '2024-03-09T06:00', '--end', '2024-03-09T07:30:00', '--timezone', 'UTC'])).ranges).toEqual([['2024-03-09T06:00:00.000Z', '2024-03-09T07:30:00.000Z']])
      const z = await ranges(['--start', '2024-03-10T01:00', '--end', '2024-03-10T05:00', '-z', 'America/Los_Angeles'])
      expect(z.code, z.output).toBe(0)
      // 01:00 PST to 05:00 PDT: three hours, since 02:00 to 03:00 never happened
      expect(z.ranges).toEqual([['2024-03-10T09:00:00.000Z', '2024-03-10T12:00:00.000Z']])
      expect(z.output).toMatch(/^chunk 1\/1 \/hist 2024-03-10T01:00-08:00 \(3 h\): 72 readings, /)
    }, 30_000)

    it('keeps a time with Z or an offset exact, whatever the zone, and --chunk-hours other than 24 fixed from the start', async () => {
      const exact = await ranges(['--start', '2024-03-09T06:00+01:00', '--end', '2024-03-10T05:00Z'])
      expect(exact.ranges).toEqual([
        ['2024-03-09T05:00:00.000Z', '2024-03-09T08:00:00.000Z'],
        ['2024-03-09T08:00:00.000Z', '2024-03-10T05:00:00.000Z'],
      ])
      const fixed = await ranges(['--start', '2024-03-10', '--end', '2024-03-11', '--chunk-hours', '12'])
      expect(fixed.ranges).toEqual([
        ['2024-03-10T08:00:00.000Z', '2024-03-10T20:00:00.000Z'],
        ['2024-03-10T20:00:00.000Z', '2024-03-11T07:00:00.000Z'],
      ])
      expect(fixed.output).toMatch(/^chunk 1\/2 \/hist 2024-03-10T00:00-08:00: 288 readings, .*\nchunk 2\/2 \/hist 2024-03-10T13:00-07:00 \(11 h\): 552 readings, /)
    }, 30_000)

    it('imports the last hour up to now when --start and --end are not given', async () => {
      const before = Date.now()
      const run = await ranges([])
      const after = Date.now()
      expect(run.code, run.output).toBe(0)
      const first = Date.parse(run.ranges[0]?.[0] as string)
      const last = Date.parse(run.ranges.at(-1)?.[1] as string)
      expect(last).toBeGreaterThanOrEqual(before)
      expect(last).toBeLessThanOrEqual(after)
      expect(last - first).toBe(HOUR)
      // --start alone ends now
      const since = await ranges(['--start', new Date(before - 2 * HOUR).toISOString()])
      expect(Date.parse(since.ranges.at(-1)?.[1] as string)).toBeGreaterThanOrEqual(after)
      expect(Date.parse(since.ranges[0]?.[0] as string)).toBe(before - 2 * HOUR)
      // and again from the same start imports only what came since
      const more = await ranges(['--start', new Date(before - 2 * HOUR).toISOString()])
      expect(more.ranges[0]?.[0]).toBe(since.ranges.at(-1)?.[1])
      // --end alone starts an hour before it
      expect((await ranges(['--end', '2024-03-09T12:00Z'])).ranges).toEqual([['2024-03-09T11:00:00.000Z', '2024-03-09T12:00:00.000Z']])
      const help = await runSmap(['load', '--help'])
      expect(help.output).toContain('(default: an hour before --end)')
      expect(help.output).toContain('(default: now)')
      expect(help.output).toContain('-z, --timezone')
      expect(help.output).toContain('--data-dir')
    }, 30_000)

    it('keeps its progress and outboxes in --data-dir, and resumes from there', async () => {
      const args = ['--start', '2024-03-09', '--end', '2024-03-11', '--data-dir', 'state']
      const first = await ranges(args)
      expect(first.code, first.output).toBe(0)
      expect(await readdir(join(dir, 'state'))).toContain('imports.db')
      expect(existsSync(join(dir, '.smap'))).toBe(false)
      const again = await ranges(args)
      expect(again.ranges).toEqual([])
      expect(again.output).toMatch(/imported 0 readings in 0 chunks \(2 done by an earlier run\)/)
      // without --data-dir the progress is elsewhere, so the import runs again
      expect((await ranges(args.slice(0, 4))).ranges).toHaveLength(2)
    }, 30_000)

    it('explains a bad zone, date or range', async () => {
      const fail = async (args: string[]): Promise<string> => {
        const run = await runSmap(['load', 'conf.ini', ...args], { cwd: dir })
        expect(run.code).toBe(1)
        return run.output
      }
      expect(await fail(['--start', '2024-03-09', '--timezone', 'Pacific/Nowhere'])).toBe(
        'smap load: --timezone: unknown time zone "Pacific/Nowhere"; use an IANA name such as America/Los_Angeles or UTC\n',
      )
      await writeFile(join(dir, 'conf.ini'), conf(sink.url, 'Properties/Timezone = Mars/Olympus\n'))
      expect(await fail(['--start', '2024-03-09'])).toMatch(/^smap load: conf\.ini:\d+ \[\/\] Properties\/Timezone: unknown time zone "Mars\/Olympus"/)
      await writeFile(join(dir, 'conf.ini'), conf(sink.url))
      const rule = "expected a date like 2024-01-01 or a time like 2024-01-01T08:00 (both in the source's time zone) or 2024-01-01T08:00:00Z or 2024-01-01T08:00-07:00"
      expect(await fail(['--start', '2024-02-30', '--end', '2024-03-01'])).toBe(`smap load: --start: ${rule}, got "2024-02-30": no such date or time\n`)
      expect(await fail(['--start', '2024-03-01', '--end', '2024-03-01T24:00'])).toBe(`smap load: --end: ${rule}, got "2024-03-01T24:00": no such date or time\n`)
      expect(await fail(['--start', '2024-03-01T08:00+25:00'])).toBe(`smap load: --start: ${rule}, got "2024-03-01T08:00+25:00": no such offset\n`)
      expect(await fail(['--start', '03/09/2024'])).toBe(`smap load: --start: ${rule}, got "03/09/2024"\n`)
      expect(await fail(['--start', '2099-01-01'])).toMatch(/^smap load: --start \(2099-01-01\) must be before --end \(now, \d{4}-\d\d-\d\dT[\d:.]+Z\)\n$/)
      expect(await fail(['--start', '2024-03-09T06:00', '--end', '2024-03-09T14:00Z'])).toBe('smap load: --start (2024-03-09T06:00) must be before --end (2024-03-09T14:00Z)\n')
    }, 30_000)
  })
})

