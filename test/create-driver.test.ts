import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { uuid5 } from '@smap/core'
import { SMAP_BIN, start, type Running } from './_process.js'
import { link } from '../packages/cli/test/_cli.js'

// Scaffolds a driver with create-smap-driver, builds and tests it with the
// workspace's own tools and SDK (linked, never fetched), then installs it
// into a site and serves it with the built `smap`.

const exec = promisify(execFile)
const workspace = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url))
const CREATE_BIN = workspace('packages/create-smap-driver/bin/create-smap-driver.js')
const SDK_DIR = workspace('packages/sdk')
const TESTING_DIR = workspace('packages/testing')
const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

// a child vitest must not think it is one of our workers
const childEnv = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('VITEST')).map((k) => [k, undefined]))

/** The JS entry of a workspace tool's bin, to run with this Node. */
async function toolBin(pkg: string, bin: string): Promise<string> {
  const manifest = JSON.parse(await readFile(workspace(`node_modules/${pkg}/package.json`), 'utf8')) as { bin: Record<string, string> }
  return join(workspace(`node_modules/${pkg}`), manifest.bin[bin] as string)
}

/** Runs `node file ...args` in `cwd` to completion; fails with its output unless it exits 0. */
async function node(file: string, args: string[], cwd: string): Promise<string> {
  const p = start(file, args, { cwd, env: childEnv })
  const code = await p.exited
  if (code !== 0) throw new Error(`node ${file} ${args.join(' ')} exited ${code} in ${cwd}:\n${p.output()}`)
  return p.output()
}

interface Stream {
  uuid: string
  Properties: { UnitofMeasure: string; ReadingType: string }
  Readings: Array<[number, number]>
}

describe('a driver made with npm create smap-driver', () => {
  let dir: string
  let driverDir: string
  let site: string
  let running: Running | undefined
  const log: string[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-create-driver-'))
    await mkdir(join(dir, 'drivers'))
    log.push(await node(CREATE_BIN, ['my-meter', '--yes'], join(dir, 'drivers')))
    driverDir = join(dir, 'drivers', 'my-meter')
    for (const tool of ['tsup', 'typescript', 'vitest', '@types/node']) await link(driverDir, tool, workspace(`node_modules/${tool}`))
    await link(driverDir, '@smap/sdk', SDK_DIR)
    await link(driverDir, '@smap/testing', TESTING_DIR)
    log.push(await node(await toolBin('tsup', 'tsup'), [], driverDir))

    // the site installs the tarball npm would publish
    const { stdout } = await exec('npm', ['pack', '--offline', '--pack-destination', dir], {
      cwd: driverDir,
      env: { ...process.env, ...childEnv, npm_config_update_notifier: 'false' },
    })
    site = join(dir, 'site')
    const installed = join(site, 'node_modules', 'smap-driver-my-meter')
    await mkdir(installed, { recursive: true })
    await exec('tar', ['-xzf', join(dir, stdout.trim().split('\n').pop() as string), '-C', installed, '--strip-components=1'])
    await link(site, '@smap/sdk', SDK_DIR)
  }, 60_000)

  afterEach(async () => {
    running?.child.kill('SIGKILL')
    running = undefined
  })
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  /** Runs `smap ...args` in `cwd` and returns the GET of /data/PATH/+ once every stream has a reading. */
  async function serve(cwd: string, args: string[], path = '/meter'): Promise<Record<string, Stream & { Contents?: string[]; Metadata?: Record<string, unknown> }>> {
    running = start(SMAP_BIN, [...args, '--port', '0'], { cwd })
    const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
    for (let tries = 0; ; tries++) {
      const tree = (await (await fetch(`${url}/data${path === '/' ? '' : path}/+`)).json()) as Record<string, Stream>
      const streams = Object.entries(tree).filter(([path]) => path !== '/')
      if (streams.length === 3 && streams.every(([, s]) => s.Readings.length > 0)) {
        running.child.kill('SIGTERM')
        expect(await running.exited).toBe(0)
        return tree
      }
      if (tries > 50) throw new Error(`no readings from the driver after 5 s; smap said:\n${running.output()}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }

  /** Checks the readings against the simulated meter and the uuids against the rule: uuid5(uuid5(root, path), key). */
  function expectMeter(tree: Record<string, Stream>, root: string, scale: number, path = '/meter'): void {
    const namespace = uuid5(root, path)
    const [[time, volts]] = tree['/voltage']!.Readings as [[number, number]]
    const amps = (1 + (Math.floor(time / 1000) % 5)) * scale
    expect(tree['/voltage']).toMatchObject({ uuid: uuid5(namespace, 'voltage'), Properties: { UnitofMeasure: 'V', ReadingType: 'double' } })
    expect(tree['/current']).toMatchObject({ uuid: uuid5(namespace, 'current'), Properties: { UnitofMeasure: 'A' }, Readings: [[time, amps]] })
    expect(tree['/power']).toMatchObject({ uuid: uuid5(namespace, 'power'), Properties: { UnitofMeasure: 'W' }, Readings: [[time, volts * amps]] })
    expect(volts).toBe(230)
    expect(Math.abs(time - Date.now())).toBeLessThan(30_000)
  }

  it('is scaffolded, builds, typechecks and passes its own tests', async () => {
    expect(log[0]).toContain('Created smap-driver-my-meter in my-meter/')
    expect((await readdir(join(driverDir, 'dist'))).sort()).toEqual(['index.d.ts', 'index.js', 'index.js.map'])
    await node(await toolBin('typescript', 'tsc'), ['--noEmit'], driverDir)
    const tests = await node(await toolBin('vitest', 'vitest'), ['run'], driverDir)
    expect(tests).toMatch(/Tests\s+5 passed \(5\)/)
  }, 30_000)

  it('serves readings from a site that installed it by package name', async () => {
    expect((await readdir(join(site, 'node_modules', 'smap-driver-my-meter'))).sort()).toEqual(['LICENSE', 'README.md', 'dist', 'package.json'])
    await writeFile(join(site, 'conf.ini'), `[/]\nuuid = ${ROOT}\n\n[/meter]\ntype = smap-driver-my-meter\nRate = 1\nScale = 2\n`)
    const tree = await serve(site, ['run', 'conf.ini'])
    expectMeter(tree, ROOT, 2)
    expect(tree['/']).toMatchObject({
      Contents: ['voltage', 'current', 'power'],
      Metadata: { Instrument: { Manufacturer: 'Example Instruments', Model: 'Simulated meter', SamplingPeriod: '1' } },
    })
  }, 20_000)

  it('runs alone with smap run-driver, as its README shows', async () => {
    const tree = await serve(site, ['run-driver', 'smap-driver-my-meter', '--opt', 'Rate=5', '--opt', 'Scale=4', '--uuid', ROOT], '/')
    expectMeter(tree, ROOT, 4, '/')
    expect(tree['/']).toMatchObject({ Metadata: { Instrument: { SamplingPeriod: '5' } } })
  }, 20_000)

  it('serves readings when a config names its module by relative path', async () => {
    await writeFile(join(dir, 'relative.ini'), `[/]\nuuid = ${ROOT}\n\n[/meter]\ntype = ./drivers/my-meter/dist/index.js\nScale = 3\n`)
    expectMeter(await serve(dir, ['run', 'relative.ini']), ROOT, 3)
  }, 20_000)

  it('serves its own example config from its own folder, with the uuids its README shows', async () => {
    // as conf.ini says: built, then `smap run conf.ini` here; its type names this very package,
    // which Node resolves to dist/ through package.json's exports (a self-reference), not an install
    await expect(readdir(join(driverDir, 'node_modules', 'smap-driver-my-meter'))).rejects.toThrow('ENOENT')
    expect(await readFile(join(driverDir, 'conf.ini'), 'utf8')).toContain('`npm run build`, then\n; `npx smap run conf.ini`')
    const root = (await readFile(join(driverDir, 'conf.ini'), 'utf8')).match(/^uuid = (\S+)$/m)?.[1] as string
    const tree = await serve(driverDir, ['run', 'conf.ini'])
    expectMeter(tree, root, 1)
    expect(await readFile(join(driverDir, 'README.md'), 'utf8')).toContain(`{"uuid":"${tree['/power']!.uuid}"`)
  }, 20_000)
})
