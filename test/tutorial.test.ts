// The tutorial's first two sections, step by step, with TypeScript names.
import { once } from 'node:events'
import { mkdtemp, readFile, rm, writeFile, symlink } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { dump, load, loadText, periodic, serve, SmapInstance, uuid5, type PeriodicJob, type SmapServer } from '@smap/core'
import { SMAP_BIN, start, type Running } from './_process.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

describe('tutorial: Your First sMAP Source', () => {
  let server: SmapServer | undefined
  let job: PeriodicJob | undefined
  afterEach(async () => {
    await job?.stop()
    await server?.close()
  })

  it('creates an instance, adds sensor0, counts once a second and serves it', async () => {
    const inst = new SmapInstance(ROOT)
    const myTimeseries = inst.addTimeseries('/sensor0', 'sensor0', 'V')
    expect(inst.getTimeseries('/sensor0')).toBe(myTimeseries)

    let counter = 1
    job = periodic(() => inst.add('/sensor0', counter++), 1)
    server = await serve(inst, { port: 0 })

    const first = (await (await fetch(`${server.url}/data/sensor0`)).json()) as { Readings: Array<[number, number]> }
    expect(first.Readings).toEqual([[expect.any(Number), 1]])
    await new Promise((r) => setTimeout(r, 1100))
    const later = (await (await fetch(`${server.url}/data/sensor0`)).json()) as { Readings: Array<[number, number]> }
    expect(later.Readings[0]?.[1]).toBeGreaterThanOrEqual(2)
    expect(later.Readings[0]?.[0]).toBeGreaterThan(first.Readings[0]?.[0] as number)
  })
})

describe('tutorial: sMAP Sources From Config Files', () => {
  let dir: string
  let server: SmapServer | undefined
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-tutorial-'))
  })
  afterEach(async () => {
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('dumps, edits the config into a collection with metadata, loads and serves it', async () => {
    const inst = new SmapInstance(ROOT)
    inst.addTimeseries('/sensor0', 'sensor0', 'V')
    const conf = join(dir, 'conf.ini')
    await dump(inst, conf)
    expect(await readFile(conf, 'utf8')).toBe(`[/]
type = Collection
uuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92

[/sensor0]
type = Timeseries
key = sensor0
Properties/UnitofMeasure = V
`)

    // the tutorial's edited file, verbatim (with its indentation and trailing spaces)
    await writeFile(
      conf,
      `    [/]
    type = Collection
    uuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92

    [/instrument0]
    type = Collection
    Metadata/Instrument/Manufacturer = sMAP Implementer Forum
    
    [/instrument0/sensor0]
    type = Timeseries
    key = sensor0
    Properties/UnitofMeasure = V
`.replace(/^ {4}/gm, ''),
    )
    const loaded = await load(conf)
    server = await serve(loaded, { port: 0 })
    const res = await fetch(`${server.url}/data/instrument0/sensor0`)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(await res.json()).toEqual({
      Properties: { ReadingType: 'long', Timezone: 'America/Los_Angeles', UnitofMeasure: 'V' },
      Readings: [],
      // the key-derived uuid (DESIGN.md §4), where the tutorial's sample shows a path-derived one
      uuid: 'b37e5c5f-e9b0-59a6-8275-08729beeff46',
    })
    expect(await (await fetch(`${server.url}/data/instrument0`)).json()).toEqual({
      Contents: ['sensor0'],
      Metadata: { Instrument: { Manufacturer: 'sMAP Implementer Forum' } },
    })
  })
})

describe('tutorial: Data Destination', () => {
  it('reads the [report 0] snippet verbatim', async () => {
    const inst = await loadText(
      `[/]
type = Collection
uuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92

[report 0]
ReportDeliveryLocation = http://jackalope.cs.berkeley.edu/~sdawson/receive.php
ReportResource = /+
`,
      join(tmpdir(), 'conf.ini'),
    )
    expect([...inst.subscriptions.values()].map((s) => [s.config.uuid, s.config.ReportResource, s.config.ReportDeliveryLocation])).toEqual([
      [uuid5(ROOT, 'report 0'), '/+', ['http://jackalope.cs.berkeley.edu/~sdawson/receive.php']],
    ])
  })
})

describe('the README demo (examples/demo)', () => {
  let dir: string
  let running: Running | undefined
  let sink: Running | undefined
  afterEach(async () => {
    running?.child.kill('SIGKILL')
    sink?.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('buffers the counter until smap sink runs, then delivers it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-demo-'))
    const conf = await readFile(fileURLToPath(new URL('../examples/demo/conf.ini', import.meta.url)), 'utf8')
    // the same config on free ports
    const probe = createServer().listen(0, '127.0.0.1')
    await once(probe, 'listening')
    const sinkPort = (probe.address() as AddressInfo).port
    probe.close()
    await writeFile(join(dir, 'conf.ini'), conf.replace('Port = 8080', 'Port = 0').replace('127.0.0.1:8079', `127.0.0.1:${sinkPort}`))
    // the demo's thermostat driver is a package installed beside the config
    await symlink(fileURLToPath(new URL('../examples/demo/node_modules', import.meta.url)), join(dir, 'node_modules'))
    running = start(SMAP_BIN, ['run', 'conf.ini'], { cwd: dir })
    const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
    // the quick start's write: the setpoint, from this machine
    const put = await fetch(`${url}/data/thermostat/setpoint?state=24`, { method: 'PUT' })
    expect(put.status).toBe(200)
    expect(((await put.json()) as { State: number }).State).toBe(24)
    await new Promise((r) => setTimeout(r, 1500)) // the sink is not up yet: readings wait in the outbox
    sink = start(SMAP_BIN, ['sink', '--port', String(sinkPort), '--out', 'got.jsonl'], { cwd: dir })
    await sink.waitFor(/sink listening/)
    let lines: Array<{ path: string; uuid: string; readings: Array<[number, number]> }> = []
    const end = Date.now() + 10_000
    while (Date.now() < end) {
      lines = (await readFile(join(dir, 'got.jsonl'), 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
      if (lines.filter((l) => l.path === '/instrument0/sensor0').flatMap((l) => l.readings).length >= 3 && lines.some((l) => l.path === '/thermostat/setpoint')) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const values = lines.filter((l) => l.path === '/instrument0/sensor0').flatMap((l) => l.readings.map(([, v]) => v))
    expect(values.slice(0, 3)).toEqual([0, 1, 2])
    expect(lines.find((l) => l.path === '/instrument0/sensor0')?.uuid).toBe('bc94dc3f-1231-54a6-b6b6-2e9bb8c01eb3')
    // the state written reached the subscriber like any reading
    expect(lines.filter((l) => l.path === '/thermostat/setpoint').flatMap((l) => l.readings.map(([, v]) => v))).toContain(24)
  })
})

describe('examples/first-source', () => {
  let running: Running | undefined
  afterEach(() => {
    running?.child.kill('SIGKILL')
  })

  it('runs the tutorial program and counts on /sensor0', async () => {
    const tsx = join(createRequire(import.meta.url).resolve('tsx/package.json'), '../dist/cli.mjs')
    const example = fileURLToPath(new URL('../examples/first-source/src/first-source.ts', import.meta.url))
    running = start(tsx, [example], { env: { PORT: '0' } })
    const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
    const body = (await (await fetch(`${url}/data/sensor0`)).json()) as { uuid: string; Readings: Array<[number, number]> }
    expect(body.uuid).toBe('b37e5c5f-e9b0-59a6-8275-08729beeff46')
    expect(body.Readings[0]?.[1]).toBeGreaterThanOrEqual(1)
    running.child.kill('SIGINT')
    expect(await running.exited).toBe(0)
  })

  it('ships the tutorial config, which smap run serves', async () => {
    const conf = fileURLToPath(new URL('../examples/first-source/conf.ini', import.meta.url))
    const inst = await load(conf)
    expect(inst.getTimeseries('/instrument0/sensor0')?.uuid).toBe('b37e5c5f-e9b0-59a6-8275-08729beeff46')
  })
})
