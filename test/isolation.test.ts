import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SMAP_BIN, start, type Running } from './_process.js'

const FIXTURES = fileURLToPath(new URL('./fixtures/isolation/', import.meta.url))
const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

interface DriverLine {
  state: string
  restarts: number
  lastError: { message: string } | null
}

describe('drivers in worker threads (Isolation = worker)', () => {
  let dir: string
  let running: Running | undefined
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-isolation-'))
    await cp(FIXTURES, dir, { recursive: true })
  })
  afterEach(async () => {
    running?.child.kill('SIGKILL')
    running = undefined
    await rm(dir, { recursive: true, force: true })
  })

  it('terminates and restarts a busy loop and a runaway allocation while the server and the other drivers go on', { timeout: 90_000 }, async () => {
    await writeFile(
      join(dir, 'conf.ini'),
      [
        '[/]',
        `uuid = ${ROOT}`,
        '',
        '[/busy]',
        'type = ./busy.js',
        'Isolation = worker',
        '',
        '[/hog]',
        'type = ./hog.js',
        'Isolation = worker',
        'WorkerMemory = 32',
        '',
        '[/steady]',
        'type = smap.driver.BaseDriver',
        'Rate = 0.2',
        '',
      ].join('\n'),
    )
    running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0'], { cwd: dir })
    const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
    const drivers = async (): Promise<Record<string, DriverLine>> => ((await (await fetch(`${url}/status`)).json()) as { drivers: Record<string, DriverLine> }).drivers
    // meanwhile every GET is answered at once, and the driver in the main thread keeps counting
    let slowest = 0
    const end = Date.now() + 60_000
    let d = await drivers()
    while (Date.now() < end && !((d['/busy']?.restarts ?? 0) >= 1 && (d['/hog']?.restarts ?? 0) >= 1)) {
      const t = Date.now()
      const res = await fetch(`${url}/data/steady/sensor0`)
      expect(res.status).toBe(200)
      slowest = Math.max(slowest, Date.now() - t)
      await sleep(200)
      d = await drivers()
    }
    expect(d['/busy']?.restarts).toBeGreaterThanOrEqual(1)
    expect(d['/busy']?.lastError?.message).toMatch(/its worker thread stopped answering for 5 s \(a busy loop\?\) and was terminated/)
    expect(d['/hog']?.restarts).toBeGreaterThanOrEqual(1)
    expect(d['/hog']?.lastError?.message).toMatch(/its worker thread failed: .*memory/i)
    expect(slowest).toBeLessThan(1000)
    const steady = (await (await fetch(`${url}/data/steady/sensor0`)).json()) as { Readings: Array<[number, number]> }
    expect(steady.Readings.length).toBeGreaterThan(0)
    // the busy driver runs again in a new thread, and counts past its third poll
    const until = Date.now() + 20_000
    let count = 0
    while (Date.now() < until && count <= 3) {
      const body = (await (await fetch(`${url}/data/busy/count`)).json()) as { Readings: Array<[number, number]> }
      count = body.Readings.at(-1)?.[1] ?? 0
      await sleep(200)
    }
    expect(count).toBeGreaterThan(3)
    // and a stop is prompt, whatever the workers are doing
    const t = Date.now()
    running.child.kill('SIGTERM')
    expect(await running.exited).toBe(0)
    expect(Date.now() - t).toBeLessThan(10_000)
  })

  it('says which values Isolation takes, and that the built-in driver cannot use it', async () => {
    const { runSmap } = await import('./_process.js')
    await writeFile(join(dir, 'a.ini'), `[/]\nuuid = ${ROOT}\n\n[/busy]\ntype = ./busy.js\nIsolation = thread\n`)
    expect(await runSmap(['validate', 'a.ini'], { cwd: dir })).toMatchObject({ code: 1, output: expect.stringContaining('a.ini:6 [/busy] Isolation: expected worker (run the driver in a thread of its own) or none, got "thread"') })
    await writeFile(join(dir, 'b.ini'), `[/]\nuuid = ${ROOT}\n\n[/s]\ntype = smap.driver.BaseDriver\nIsolation = worker\n`)
    expect(await runSmap(['validate', 'b.ini'], { cwd: dir })).toMatchObject({ code: 1, output: expect.stringContaining('b.ini:6 [/s] Isolation: smap.driver.BaseDriver is built in and runs in the main thread') })
    await writeFile(join(dir, 'c.ini'), `[/]\nuuid = ${ROOT}\n\n[/busy]\ntype = ./busy.js\nWorkerMemory = 64\n`)
    expect(await runSmap(['validate', 'c.ini'], { cwd: dir })).toMatchObject({ code: 1, output: expect.stringContaining('WorkerMemory limits a driver run with Isolation = worker') })
  })
})
