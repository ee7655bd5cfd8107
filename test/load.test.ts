import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startSink, type Sink } from '../packages/core/test/_sink.js'
import { runSmap, SMAP_BIN, start, type Running } from './_process.js'

const FIVE_MIN = 300_000
const START = Date.UTC(2024, 0, 1)

describe('smap load', () => {
  let dir: string
  let sink: Sink
  let running: Running | undefined
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-load-'))
    sink = await startSink()
    await copyFile(fileURLToPath(new URL('./fixtures/history-driver.js', import.meta.url)), join(dir, 'history-driver.js'))
    await writeFile(
      join(dir, 'conf.ini'),
      `[server]\nRetryBackoff = 10\nMaxRetryBackoff = 200\n\n[/]\nuuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92\n\n[/hist]\ntype = ./history-driver.js\n\n[report archive]\nReportDeliveryLocation = ${sink.url}\nReportResource = /+\nMaxBuffer = 100000\n`,
    )
  })
  afterEach(async () => {
    running?.child.kill('SIGKILL')
    await sink.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('resumes after a kill in the middle and delivers each reading exactly once', async () => {
    const args = ['load', 'conf.ini', '--start', '2024-01-01', '--end', '2024-01-31']
    running = start(SMAP_BIN, args, { cwd: dir, env: { HISTORY_DELAY_MS: '100' } })
    await running.waitFor(/chunk 8\/30 /)
    running.child.kill('SIGKILL')
    await running.exited
    const before = sink.values('/hist/a').length
    expect(before).toBeGreaterThan(0)
    expect(before).toBeLessThan(30 * 288)

    const again = await runSmap(args, { cwd: dir })
    expect(again.code).toBe(0)
    expect(again.output).toMatch(/\(\d+ done by an earlier run\) in [\d:]+; every reading acknowledged\n$/)
    const expected = Array.from({ length: 30 * 288 }, (_, k) => START / FIVE_MIN + k)
    // each reading exactly once, in order, for a receiver that drops repeated batch ids (as smap sink does)
    expect(sink.uniqueValues('/hist/a')).toEqual(expected)
    expect(sink.uniqueValues('/hist/b')).toEqual(expected.map((v) => -v))
    // and at most the batch in flight at the kill was sent twice
    expect(sink.values('/hist/a').length - expected.length).toBeLessThanOrEqual(10_000)
  }, 60_000)

  it('prints plain progress lines when not on a terminal', async () => {
    const { code, output } = await runSmap(['load', 'conf.ini', '--start', '2024-01-01', '--end', '2024-01-03'], { cwd: dir })
    expect(code).toBe(0)
    expect(output).toMatch(/^chunk 1\/2 \/hist 2024-01-01T00:00Z: 576 readings, \d+\/s, ETA [\d:]+\nchunk 2\/2 \/hist 2024-01-02T00:00Z: 1152 readings, \d+\/s, ETA 0:00\n/)
    expect(output).toMatch(/imported 1152 readings in 2 chunks in [\d:]+; every reading acknowledged\n$/)
  })

  it('explains bad arguments and waits, saying so, while the subscriber is down', async () => {
    expect(await runSmap(['load', 'conf.ini', '--start', 'yesterday', '--end', '2024-01-02'], { cwd: dir })).toEqual({
      code: 1,
      output: 'smap load: --start: expected a date like 2024-01-01 or a time like 2024-01-01T08:00:00Z, got "yesterday"\n',
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
})
