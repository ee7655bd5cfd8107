import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SmapInstance, type Logger } from '../../src/index.js'

const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/isolation/review', import.meta.url))

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const fx = (n: string) => pathToFileURL(`${FIXTURES}/${n}.js`).href
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const lines: string[] = []
const logger: Logger = { info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m, e) => void lines.push(`${m}${e instanceof Error ? `: ${e.message}` : ''}`) }

describe('isolation', () => {
  let dir: string
  let inst: SmapInstance
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-iso-faults-'))
    lines.length = 0
    inst = new SmapInstance(ROOT, { logger, server: { dataDir: dir } })
  })
  afterEach(async () => {
    await inst.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  it('a thread that dies outside a call fails the driver', async () => {
    const mod = (await import(fx('dies'))).default
    const d = inst.addDriver('/d', mod, {}, { ref: './dies.js', isolation: { module: { url: fx('dies'), exportName: 'default' } } })
    await inst.start()
    const end = Date.now() + 10_000
    while (Date.now() < end && d.lastError === null) await sleep(50)
    expect(d.lastError).toMatchObject({ phase: 'worker', message: 'its worker thread failed: device socket blew up' })
    expect(['backoff', 'running', 'starting']).toContain(d.status().state) // restarted, in a new thread
  })

  it('a job number is not used twice', async () => {
    const mod = (await import(fx('jobs'))).default
    inst.addDriver('/j', mod, {}, { ref: './jobs.js', isolation: { module: { url: fx('jobs'), exportName: 'default' } } })
    await inst.start()
    await sleep(1500)
    const last = (p: string) => (inst.getTimeseries(p)?.readings.at(-1) ?? [])[1]
    // a: ~3 then stopped; b and c each ~15 in 1.5 s at 0.1 s
    expect(Number(last('/j/b'))).toBeGreaterThan(8)
    expect(Number(last('/j/c'))).toBeLessThan(16)
  })

  it('a job stopped from outside does not fail a poll', async () => {
    const mod = (await import(fx('stopjob'))).default
    for (let i = 0; i < 8; i++) {
      const path = `/s${i}`
      inst.addDriver(path, mod, {}, { ref: './stopjob.js', isolation: { module: { url: fx('stopjob'), exportName: 'default' } } })
    }
    await inst.start()
    await sleep(1500)
    const failed = Object.entries((await inst.status()).drivers).filter(([, d]) => d.lastError !== null || d.restarts > 0)
    expect(failed).toEqual([])
  })

  it.each(['main', 'worker'])('section metadata wins over the driver after a restart (%s)', async (mode) => {
    const mod = (await import(fx('meta'))).default
    const d = inst.addDriver('/site', mod, {}, { ref: './meta.js', metadata: { Instrument: { Model: 'FromSection' } }, ...(mode === 'worker' ? { isolation: { module: { url: fx('meta'), exportName: 'default' } } } : {}) })
    await inst.start()
    await sleep(300)
    const before = JSON.stringify(inst.getCollection('/site/meter')?.toJSON().Metadata)
    const end = Date.now() + 8000
    while (Date.now() < end && d.restarts === 0) await sleep(50)
    await sleep(1000)
    const after = JSON.stringify(inst.getCollection('/site/meter')?.toJSON().Metadata)
    expect(after).toBe(before)
  })

  it('a stop that never finishes does not leave the thread running', async () => {
    const ticks = join(dir, 'ticks')
    process.env.SMAP_TEST_TICKS = ticks
    await writeFile(ticks, '')
    const mod = (await import(fx('hangstop'))).default
    inst.addDriver('/h', mod, {}, { ref: './hangstop.js', isolation: { module: { url: fx('hangstop'), exportName: 'default' } } })
    await inst.start()
    await sleep(500)
    await inst.stop()
    const a = (await stat(ticks)).size
    await sleep(3000)
    const b = (await stat(ticks)).size
    expect(b).toBe(a)
  })
})
