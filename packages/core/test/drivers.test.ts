import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineDriver, z } from '@smap/sdk'
import type { ConfigError} from '@smap/core';
import { dumpText, load, loadText, serve, SmapInstance, uuid5, type Logger, type SmapServer } from '@smap/core'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const ZOD_DIR = dirname(createRequire(import.meta.url).resolve('zod/package.json'))
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m, e) => lines.push(`error ${m}${e instanceof Error ? `\n${e.stack}` : ''}`),
  }
}

async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await sleep(20)
  }
}

/** Writes a package into `site/node_modules` (with zod linked beside it). */
async function installPackage(site: string, name: string, files: Record<string, string>, pkg: Record<string, unknown> = {}): Promise<void> {
  const dir = join(site, 'node_modules', name)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', type: 'module', exports: './index.js', peerDependencies: { '@smap/sdk': '^0.1.0' }, ...pkg }))
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, file)), { recursive: true })
    await writeFile(join(dir, file), text)
  }
}

// Fixture drivers import zod, not @smap/sdk: vitest runs Node with the
// "@smap/source" condition, under which the SDK resolves to its .ts sources.
// A definition is a plain object; defineDriver only types it.
const METER = `import { z } from 'zod'
export default ({
  name: 'meter',
  options: z.object({ Rate: z.coerce.number().positive().default(1), Scale: z.coerce.number().default(1) }),
  setup(ctx, opts) {
    ctx.addTimeseries('/power', { key: 'power', unit: 'kW', readingType: 'double' })
    ctx.setMetadata('/', { Instrument: { Manufacturer: 'Acme', Model: 'M1' } })
    ctx.setMetadata('/power', { Instrument: { Model: 'M1-power' } })
  },
  start(ctx, opts) {
    let n = 0
    ctx.periodic(() => ctx.add('/power', ++n * opts.Scale), opts.Rate)
  },
})
export const Other = { name: 'other', setup(ctx) { ctx.addTimeseries('/x', 'x', 'V') } }
`

describe('the driver host', () => {
  let site: string
  let server: SmapServer | undefined

  beforeEach(async () => {
    site = await mkdtemp(join(tmpdir(), 'smap-site-'))
    await mkdir(join(site, 'node_modules'), { recursive: true })
    await symlink(ZOD_DIR, join(site, 'node_modules', 'zod'))
  })
  afterEach(async () => {
    await server?.close()
    server = undefined
    await rm(site, { recursive: true, force: true })
  })

  it("runs the tutorial's driver config verbatim", async () => {
    const conf = join(site, 'conf.ini')
    await writeFile(
      conf,
      `[/]
type = Collection
uuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92

[/instrument0]
type = smap.driver.BaseDriver
Metadata/Instrument/Manufacturer = sMAP Implementer Forum
`,
    )
    const inst = await load(conf)
    server = await serve(inst, { port: 0 })
    const url = `${server.url}/data/instrument0/sensor0`
    const first = (await (await fetch(url)).json()) as { uuid: string; Readings: Array<[number, number]> }
    // uuid5(uuid5(root, attach path), key), as the original library derived it
    expect(first.uuid).toBe(uuid5(uuid5(ROOT, '/instrument0'), 'mysensor'))
    expect(first.uuid).toBe('bc94dc3f-1231-54a6-b6b6-2e9bb8c01eb3')
    expect(first.Readings.map(([, v]) => v)).toEqual([0])
    await until(async () => ((await (await fetch(url)).json()) as { Readings: Array<[number, number]> }).Readings[0]?.[1] === 1)
    expect(await (await fetch(`${server.url}/data/instrument0`)).json()).toEqual({
      Contents: ['sensor0'],
      Metadata: { Instrument: { Manufacturer: 'sMAP Implementer Forum' } },
    })
  })

  it('loads a driver package by name, validates its options and applies section metadata over the driver', async () => {
    await installPackage(site, 'smap-driver-meter', { 'index.js': METER })
    const conf = join(site, 'conf.ini')
    await writeFile(
      conf,
      `[/]\nuuid = ${ROOT}\n\n[/meter]\ntype = smap-driver-meter\nkey = main-meter\nRate = 0.05\nScale = 2.5\nMetadata/Instrument/Model = M1-rev2\nMetadata/Location/Room = 101\n`,
    )
    const inst = await load(conf)
    server = await serve(inst, { port: 0 })
    const ts = inst.getTimeseries('/meter/power')
    expect(ts?.uuid).toBe(uuid5(uuid5(ROOT, 'main-meter'), 'power'))
    await until(() => (ts?.latest?.[1] as number) >= 5)
    expect(inst.getCollection('/meter')?.metadata).toEqual({ Instrument: { Manufacturer: 'Acme', Model: 'M1-rev2' }, Location: { Room: '101' } })
    expect(ts?.metadata).toEqual({ Instrument: { Model: 'M1-rev2' } })
    const status = (await (await fetch(`${server.url}/status`)).json()) as { drivers: Record<string, { state: string; lastReadingTime: number }> }
    expect(status.drivers['/meter']).toMatchObject({ driver: 'smap-driver-meter', state: 'running', restarts: 0, lastError: null })
    expect(status.drivers['/meter']?.lastReadingTime).toBeGreaterThan(Date.now() - 5000)
    // dump writes the driver's section, not what it built
    expect(dumpText(inst, site)).toBe(
      `[/]\ntype = Collection\nuuid = ${ROOT}\n\n[/meter]\ntype = smap-driver-meter\nkey = main-meter\nRate = 0.05\nScale = 2.5\nMetadata/Instrument/Model = M1-rev2\nMetadata/Location/Room = 101\n`,
    )
  })

  it('runs a package driver in a worker thread with Isolation = worker, and writes the section back as it read it', async () => {
    await installPackage(site, 'smap-driver-meter', { 'index.js': METER })
    const text = `[/]\ntype = Collection\nuuid = ${ROOT}\n\n[/meter]\ntype = smap-driver-meter\nkey = main-meter\nIsolation = worker\nWorkerMemory = 64\nRate = 0.05\nScale = 2.5\n`
    const inst = await loadText(text, join(site, 'conf.ini'))
    expect(inst.drivers.get('/meter')?.source.isolation).toMatchObject({ memoryMb: 64, module: { exportName: 'default' } })
    server = await serve(inst, { port: 0 })
    const ts = inst.getTimeseries('/meter/power')
    await until(() => (ts?.latest?.[1] as number) >= 5)
    expect(inst.getCollection('/meter')?.metadata).toEqual({ Instrument: { Manufacturer: 'Acme', Model: 'M1' } })
    expect(inst.drivers.get('/meter')?.status()).toMatchObject({ state: 'running', restarts: 0, lastError: null })
    expect(dumpText(inst, site)).toBe(text)
  })

  it('reads MinWriteInterval for the actuator points of a driver section, writes it back, and refuses a bad one', async () => {
    await installPackage(site, 'smap-driver-meter', { 'index.js': METER })
    const text = `[/]\ntype = Collection\nuuid = ${ROOT}\n\n[/meter]\ntype = smap-driver-meter\nMinWriteInterval = 5000\nRate = 0.05\n`
    const inst = await loadText(text, join(site, 'conf.ini'))
    expect(inst.drivers.get('/meter')?.source.minWriteIntervalMs).toBe(5000)
    expect(dumpText(inst, site)).toBe(text)
    const err = await loadText(text.replace('5000', '5 s'), join(site, 'conf.ini')).catch((e: unknown) => e)
    expect((err as Error).message).toBe(`${join(site, 'conf.ini')}:7 [/meter] MinWriteInterval: expected milliseconds from 0 to 86400000, got "5 s"`)
  })

  it('loads a named export with #Export and a module by relative path', async () => {
    await installPackage(site, '@acme/smap-drivers', { 'index.js': METER })
    await mkdir(join(site, 'drivers'))
    await writeFile(join(site, 'drivers', 'local.js'), METER)
    const inst = await loadText(
      `[/]\nuuid = ${ROOT}\n[/a]\ntype = @acme/smap-drivers#Other\n[/b]\ntype = ./drivers/local.js\nRate = 3\n`,
      join(site, 'conf.ini'),
    )
    expect([...inst.drivers.values()].map((d) => [d.path, d.definition.name])).toEqual([
      ['/a', 'other'],
      ['/b', 'meter'],
    ])
  })

  describe('says exactly what is wrong with a driver section', () => {
    const conf = (type: string, extra = ''): string => `[/]\nuuid = ${ROOT}\n\n[/meter]\ntype = ${type}\n${extra}`
    const problem = async (text: string): Promise<string> => {
      const err = await loadText(text, join(site, 'conf.ini')).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(err).toBeInstanceOf(Error)
      return (err as Error).message.replace(site, 'SITE').replace(site, 'SITE')
    }

    it('a package that is not installed', async () => {
      expect(await problem(conf('smap-driver-missing'))).toBe(
        'SITE/conf.ini:5 [/meter] type: driver package "smap-driver-missing" is not installed: run `npm install smap-driver-missing` in SITE',
      )
      expect(await problem(conf('smap.drivers.dent.Dent18'))).toBe(
        'SITE/conf.ini:5 [/meter] type: "smap.drivers.dent.Dent18" is provided by @smap/driver-dent, which is not installed: run `npm install @smap/driver-dent` in SITE',
      )
    })

    it('a missing export', async () => {
      await installPackage(site, 'smap-driver-meter', { 'index.js': METER })
      expect(await problem(conf('smap-driver-meter#Nope'))).toBe(
        'SITE/conf.ini:5 [/meter] type: driver "smap-driver-meter" has no export named Nope; its drivers are Other, default: pick one with smap-driver-meter#Other',
      )
      // an error class or a constant beside the drivers is not offered as one
      await installPackage(site, 'smap-driver-two', { 'index.js': `${METER}export class MeterError extends Error {}\nexport const VERSION = '1'\n` })
      expect(await problem(conf('smap-driver-two#Nope'))).toBe(
        'SITE/conf.ini:5 [/meter] type: driver "smap-driver-two" has no export named Nope; its drivers are Other, default: pick one with smap-driver-two#Other',
      )
      await installPackage(site, 'smap-driver-none', { 'index.js': 'export class MeterError extends Error {}\n' })
      expect(await problem(conf('smap-driver-none'))).toBe(
        'SITE/conf.ini:5 [/meter] type: driver "smap-driver-none" has no default export; none of its exports (MeterError) is a driver made with defineDriver',
      )
    })

    it('a definition without setup, or with options that are not a zod schema', async () => {
      await installPackage(site, 'smap-driver-bad', { 'index.js': "export default { name: 'bad', options: { Rate: 'number' }, start() {} }\n" })
      expect(await problem(conf('smap-driver-bad'))).toBe(
        'SITE/conf.ini:5 [/meter] type: driver "smap-driver-bad" is not a valid driver definition: options must be a zod schema (build it with z from @smap/sdk); setup must be a function',
      )
      await installPackage(site, 'smap-driver-empty', { 'index.js': 'export default 42\n' })
      expect(await problem(conf('smap-driver-empty'))).toBe(
        'SITE/conf.ini:5 [/meter] type: driver "smap-driver-empty" is not a driver: expected an object made with defineDriver() from @smap/sdk, got number',
      )
    })

    it('a driver built for another SDK', async () => {
      await installPackage(site, 'smap-driver-future', { 'index.js': METER }, { version: '3.0.0', peerDependencies: { '@smap/sdk': '^2.0.0' } })
      expect(await problem(conf('smap-driver-future'))).toBe(
        'SITE/conf.ini:5 [/meter] type: driver "smap-driver-future" needs @smap/sdk >=2.0.0 (it declares ^2.0.0), but this smap runs @smap/sdk 0.1.0: update smap with `npm install @smap/cli@latest` in SITE',
      )
    })

    it('a module that fails to import', async () => {
      await installPackage(site, 'smap-driver-broken', { 'index.js': "throw new Error('boom at import')\n" })
      expect(await problem(conf('smap-driver-broken'))).toBe('SITE/conf.ini:5 [/meter] type: driver "smap-driver-broken" failed to load: boom at import')
    })

    it('options of the wrong type, and unknown options, with their lines', async () => {
      await installPackage(site, 'smap-driver-meter', { 'index.js': METER })
      const errors: ConfigError[] = []
      await loadText(conf('smap-driver-meter', 'Rate = fast\nScael = 2\n'), join(site, 'conf.ini'), { errors })
      expect(errors.map((e) => e.message.replace(site, 'SITE'))).toEqual([
        'SITE/conf.ini:7 [/meter] Scael: unknown option for driver meter; it accepts Rate, Scale',
        'SITE/conf.ini:6 [/meter] Rate: Invalid input: expected number, received NaN, got "fast"',
      ])
      expect(errors.map((e) => [e.line, e.key])).toEqual([
        [7, 'Scael'],
        [6, 'Rate'],
      ])
    })
  })
})

describe('driver supervision', () => {
  let server: SmapServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  const healthy = defineDriver({
    name: 'healthy',
    setup(ctx) {
      ctx.addTimeseries('/count', 'count', 'n')
    },
    start(ctx) {
      let n = 0
      ctx.periodic(() => ctx.add('/count', n++), 0.02)
    },
  })

  it('keeps a healthy driver producing and the server answering beside a throwing and a hanging one', async () => {
    const logger = recordingLogger()
    const inst = new SmapInstance(ROOT, { logger })
    let throwingStarts = 0
    inst.addDriver('/healthy', healthy)
    inst.addDriver(
      '/throwing',
      defineDriver({
        name: 'throwing',
        setup(ctx) {
          ctx.addTimeseries('/x', 'x', 'V')
        },
        start(ctx) {
          throwingStarts++
          ctx.periodic(() => {
            throw new Error('meter said no')
          }, 0.01)
        },
      }),
      {},
      { backoffMs: 20, maxBackoffMs: 40, crashLimit: 3 },
    )
    inst.addDriver(
      '/hanging',
      defineDriver({
        name: 'hanging',
        setup() {},
        start(ctx) {
          ctx.periodic(() => new Promise(() => {}), 0.01, { timeout: 0.05 })
        },
      }),
      {},
      { backoffMs: 20, maxBackoffMs: 40, crashLimit: 100 },
    )
    server = await serve(inst, { port: 0 })
    const count = inst.getTimeseries('/healthy/count')
    await until(() => inst.drivers.get('/throwing')?.state === 'failed' && (inst.drivers.get('/hanging')?.restarts ?? 0) >= 2)
    const before = count?.latest?.[1] as number
    await sleep(200)
    expect(count?.latest?.[1] as number).toBeGreaterThan(before)

    const status = (await (await fetch(`${server.url}/status`)).json()) as { drivers: Record<string, Record<string, unknown>> }
    expect(status.drivers['/healthy']).toMatchObject({ state: 'running', restarts: 0, lastError: null })
    expect(status.drivers['/throwing']).toMatchObject({ state: 'failed', restarts: 2, lastError: { message: 'meter said no', phase: 'poll' } })
    expect(status.drivers['/hanging']).toMatchObject({ lastError: { message: 'a periodic run did not finish within 0.05 s', phase: 'poll' } })
    expect(throwingStarts).toBe(3)
    expect((await fetch(`${server.url}/data/healthy/count`)).status).toBe(200)

    const log = logger.lines.join('\n')
    expect(log).toContain('error driver /throwing (throwing): failed in poll; restarting it in')
    expect(log).toContain('error driver /throwing (throwing): failed in poll 3 times within 600 s; it rests and is tried again in 10 min')
    expect(log).toMatch(/Error: meter said no\n\s+at /)
  })

  it('retries a setup that throws, then runs the driver', async () => {
    const inst = new SmapInstance(ROOT, { logger: recordingLogger() })
    let attempts = 0
    inst.addDriver(
      '/flaky',
      defineDriver({
        name: 'flaky',
        setup(ctx) {
          ctx.addTimeseries('/v', 'v', 'V')
          if (++attempts < 3) throw new Error('device not ready')
        },
        start(ctx) {
          ctx.add('/v', 1)
        },
      }),
      {},
      { backoffMs: 10, maxBackoffMs: 20 },
    )
    await inst.start()
    await until(() => inst.drivers.get('/flaky')?.state === 'running')
    expect(attempts).toBe(3)
    expect(inst.getTimeseries('/flaky/v')?.latest?.[1]).toBe(1)
    await inst.stop()
  })

  it('runs every setup before any start, and stops drivers within a deadline', async () => {
    const events: string[] = []
    const inst = new SmapInstance(ROOT, { logger: recordingLogger() })
    for (const name of ['a', 'b']) {
      inst.addDriver(
        `/${name}`,
        defineDriver({
          name,
          async setup() {
            await sleep(10)
            events.push(`setup ${name}`)
          },
          start() {
            events.push(`start ${name}`)
          },
          stop: () => new Promise(() => {}), // never finishes
        }),
        {},
        { stopTimeoutMs: 50 },
      )
    }
    await inst.start()
    expect(events.slice(0, 2).sort()).toEqual(['setup a', 'setup b'])
    expect(events.slice(2).sort()).toEqual(['start a', 'start b'])
    const t0 = Date.now()
    await inst.stop()
    expect(Date.now() - t0).toBeLessThan(1000)
    expect([...inst.drivers.values()].map((d) => d.state)).toEqual(['stopped', 'stopped'])
  })

  it('keeps a driver instance state across a restart, saved after its readings are in the outboxes', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'smap-state-'))
    try {
      const counter = defineDriver({
        name: 'resumable',
        setup(ctx) {
          ctx.addTimeseries('/n', 'n', 'count')
        },
        start(ctx) {
          const from = ctx.state.get<number>('next') ?? 0
          for (let k = from; k < from + 3; k++) ctx.add('/n', 1000 + k, k)
          ctx.state.set('next', from + 3)
        },
      })
      for (const expected of [2, 5]) {
        const inst = new SmapInstance(ROOT, { logger: recordingLogger(), server: { dataDir } })
        inst.addDriver('/r', counter, {}, { key: 'resumable-1' })
        await inst.start()
        expect(inst.getTimeseries('/r/n')?.latest?.[1]).toBe(expected)
        await inst.stop()
      }
      expect(JSON.parse(await readFile(join(dataDir, 'drivers', `${uuid5(ROOT, 'resumable-1')}.json`), 'utf8'))).toEqual({ next: 6 })
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it('aborts the driver signal on stop', async () => {
    const inst = new SmapInstance(ROOT, { logger: recordingLogger() })
    let signal: AbortSignal | undefined
    inst.addDriver('/s', defineDriver({ name: 's', setup() {}, start(ctx) { signal = ctx.signal } }))
    await inst.start()
    expect(signal?.aborted).toBe(false)
    await inst.stop()
    expect(signal?.aborted).toBe(true)
  })

  it('refuses bad options and overlapping drivers in code too', () => {
    const inst = new SmapInstance(ROOT)
    const opts = defineDriver({ name: 'o', options: z.object({ Rate: z.coerce.number() }), setup() {} })
    expect(() => inst.addDriver('/o', opts, { Rate: 'x' })).toThrow('invalid options for driver o at /o: Rate: Invalid input: expected number, received NaN, got "x"')
    inst.addDriver('/o', opts, { Rate: 1 })
    expect(() => inst.addDriver('/o/inner', opts, { Rate: 1 })).toThrow('cannot attach a driver at /o/inner: the driver at /o owns that part of the tree')
  })
})

describe('dumping a config with drivers', () => {
  it('writes the section back as it was written', async () => {
    const text = `[/]\ntype = Collection\nuuid = ${ROOT}\n\n[/instrument0]\ntype = smap.driver.BaseDriver\nRate = 2\nMetadata/Instrument/Manufacturer = sMAP Implementer Forum\n`
    const inst = await loadText(text, join(tmpdir(), 'conf.ini'))
    expect(dumpText(inst)).toBe(text)
    expect(await readFile(fileURLToPath(new URL('../../../examples/first-source/conf.ini', import.meta.url)), 'utf8')).toContain('[/instrument0]')
  })
})
