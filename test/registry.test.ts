import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ok, PNPM, publicPackages, ROOT_DIR, run } from './_packages.js'
import { freePort, startRegistry, type Registry } from './_registry.js'

// The release and the driver author's loop on a real registry: verdaccio on
// loopback (third-party packages proxied to npm's configured registry). We
// publish the workspace with pnpm, then an author runs `npm create
// smap-driver`, installs, tests, builds and publishes the driver; a site
// installs the CLI and the driver by name and serves readings. Then a second
// SDK release (0.2.0, with core and cli on it) and a site that installs the
// new CLI beside the driver built against 0.1.0: one SDK, and the old driver
// still loads. npm runs with a temp cache, so nothing here comes from or goes
// to the user's.

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
/** The peer range the compatibility promise gives a driver built with @smap/sdk 0.1. */
const PROMISED_RANGE = '>=0.1.0 <1.0.0'

interface Stream {
  Properties: { UnitofMeasure: string }
  Readings: Array<[number, number]>
}

describe('publishing to a registry, and a driver made, published and installed from it', () => {
  let registry: Registry
  let dir: string
  let createVersion: string
  const started = Date.now()
  const timings: string[] = []
  const env = (): NodeJS.ProcessEnv => registry.env
  const step = async <T>(name: string, body: () => Promise<T>): Promise<T> => {
    const t0 = Date.now()
    try {
      return await body()
    } finally {
      timings.push(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    }
  }
  const npm = (cwd: string, ...args: string[]): Promise<string> => ok('npm', args, { cwd, env: env(), timeout: 300_000 })
  const folder = async (name: string): Promise<string> => {
    const path = join(dir, name)
    await mkdir(path)
    await writeFile(join(path, 'package.json'), `${JSON.stringify({ name, private: true }, null, 2)}\n`)
    return path
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-publish-'))
    registry = await startRegistry()
    createVersion = (await publicPackages()).find((p) => p.name === 'create-smap-driver')?.version as string
  }, 60_000)

  afterAll(async () => {
    await registry?.stop()
    if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 3 })
    console.info(`registry.test.ts took ${((Date.now() - started) / 1000).toFixed(1)} s:\n  ${timings.join('\n  ')}`)
  })

  /** `npx smap run conf.ini` in `site` on a free loopback port until /data/meter/power has a reading; then stops it. */
  async function serveMeter(site: string): Promise<Stream> {
    const port = await freePort()
    // its own process group: npx and the node it starts are stopped together
    const child = spawn('npx', ['--no-install', 'smap', 'run', 'conf.ini', '--host', '127.0.0.1', '--port', String(port)], {
      cwd: site,
      env: env(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
    const signal = (name: NodeJS.Signals): void => {
      try {
        process.kill(-(child.pid as number), name)
      } catch {
        // gone
      }
    }
    try {
      for (let tries = 0; ; tries++) {
        if (child.exitCode !== null) throw new Error(`smap run exited ${child.exitCode}:\n${output}`)
        try {
          const response = await fetch(`http://127.0.0.1:${port}/data/meter/power`)
          if (response.ok) {
            const stream = (await response.json()) as Stream
            if (stream.Readings.length > 0) return stream
          }
        } catch {
          // not listening yet
        }
        if (tries > 300) throw new Error(`no reading at /data/meter/power after 30 s; smap said:\n${output}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    } finally {
      signal('SIGTERM')
      const timer = setTimeout(() => signal('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }

  const conf = `[/]\nuuid = ${ROOT}\n\n[/meter]\ntype = smap-driver-my-meter\nRate = 1\nScale = 2\n`

  it('publishes every public package with pnpm, workspace ranges rewritten', async () => {
    // as `pnpm run release` publishes: built already (the test command builds), so no prepack rebuild under other tests
    await step('pnpm publish -r', () =>
      ok(process.execPath, [PNPM, 'publish', '-r', '--access', 'public', '--ignore-scripts', '--no-git-checks', '--registry', registry.url], { cwd: ROOT_DIR, env: env() }),
    )
    for (const pkg of await publicPackages()) {
      const doc = (await (await fetch(`${registry.url}${pkg.name.replace('/', '%2f')}`)).json()) as { versions: Record<string, Record<string, unknown>> }
      expect(Object.keys(doc.versions), pkg.name).toEqual([pkg.version])
      expect(JSON.stringify(doc.versions[pkg.version]), pkg.name).not.toContain('workspace:')
    }
  }, 120_000)

  let author: string
  it('as an author: npm create smap-driver, npm install, npm test, npm run build, npm publish', async () => {
    author = await mkdtemp(join(dir, 'author-'))
    const created = await step('npm create smap-driver', () => npm(author, 'create', `smap-driver@${createVersion}`, 'my-meter', '--', '--yes'))
    expect(created).toContain('Created smap-driver-my-meter in my-meter/')
    const driver = join(author, 'my-meter')
    const manifest = JSON.parse(await readFile(join(driver, 'package.json'), 'utf8')) as { peerDependencies: Record<string, string> }
    // the scaffold writes the promise's range for the SDK it was built with
    expect.soft(manifest.peerDependencies['@smap/sdk']).toBe(PROMISED_RANGE)

    await step('author npm install', () => npm(driver, 'install'))
    expect(await step('author npm test', () => npm(driver, 'test'))).toMatch(/Tests\s+\d+ passed/)
    await step('author npm run build', () => npm(driver, 'run', 'build'))
    expect((await readdir(join(driver, 'dist'))).sort()).toEqual(['index.d.ts', 'index.js', 'index.js.map'])
    expect(await step('author npm publish', () => npm(driver, 'publish'))).toContain('smap-driver-my-meter@0.1.0')
  }, 420_000)

  it('as a site: npm install @smap/cli and the driver by name, smap run serves its readings over HTTP', async () => {
    const site = await folder('site')
    await step('site npm install', () => npm(site, 'install', '@smap/cli', 'smap-driver-my-meter'))
    await writeFile(join(site, 'conf.ini'), conf)
    const power = await step('site smap run', () => serveMeter(site))
    expect(power.Properties.UnitofMeasure).toBe('W')
    expect(power.Readings[0]?.[1]).toBeGreaterThan(0)
  }, 240_000)

  it('a second SDK release (0.2.0): a site on the new CLI has one SDK, 0.2.0, and still loads the driver built against 0.1.0', async () => {
    // 0.2.0 of sdk, core and cli: the published 0.1.0 tarballs with the versions and their ranges moved
    const release = join(dir, 'release')
    await mkdir(release)
    await step('second release', async () => {
      const names = ['@smap/sdk', '@smap/core', '@smap/cli']
      await npm(release, 'pack', ...names.map((n) => `${n}@0.1.0`))
      for (const [i, name] of names.entries()) {
        const unpacked = join(release, `pkg-${i}`)
        await mkdir(unpacked)
        const tarball = `${name.replace('@', '').replace('/', '-')}-0.1.0.tgz` // npm pack's name for it
        await ok('tar', ['-xzf', join(release, tarball), '-C', unpacked, '--strip-components=1'], { cwd: release, env: env() })
        const file = join(unpacked, 'package.json')
        const manifest = JSON.parse(await readFile(file, 'utf8')) as { name: string; version: string; dependencies?: Record<string, string> }
        expect(manifest.name).toBe(names[i])
        manifest.version = '0.2.0'
        for (const dep of Object.keys(manifest.dependencies ?? {})) if (names.includes(dep)) (manifest.dependencies as Record<string, string>)[dep] = '^0.2.0'
        await writeFile(file, `${JSON.stringify(manifest, null, 2)}\n`)
        await npm(unpacked, 'publish', '--ignore-scripts')
      }
    })

    const site = await folder('site-0.2')
    await step('site 0.2 npm install', () => npm(site, 'install', '@smap/cli@0.2.0', 'smap-driver-my-meter'))
    const driver = JSON.parse(await readFile(join(site, 'node_modules', 'smap-driver-my-meter', 'package.json'), 'utf8')) as { version: string; peerDependencies: Record<string, string> }
    expect(driver.version).toBe('0.1.0')
    expect(driver.peerDependencies['@smap/sdk']).toBe(PROMISED_RANGE)

    const sdks = [...new Set((await run('npm', ['ls', '@smap/sdk', '--all', '--parseable'], { cwd: site, env: env() })).output.trim().split('\n').filter((l) => l.includes('@smap')))]
    expect(sdks).toEqual([join(site, 'node_modules', '@smap', 'sdk')])
    expect(JSON.parse(await readFile(join(sdks[0] as string, 'package.json'), 'utf8'))).toMatchObject({ version: '0.2.0' })
    const tree = await npm(site, 'ls', '@smap/sdk', '--all')
    expect(tree.match(/@smap\/sdk@[\d.]+/g)?.every((v) => v === '@smap/sdk@0.2.0')).toBe(true)

    expect((await ok('npx', ['--no-install', 'smap', '--version'], { cwd: site, env: env() })).trim()).toBe('0.2.0')
    await writeFile(join(site, 'conf.ini'), conf)
    const power = await step('site 0.2 smap run', () => serveMeter(site))
    expect(power.Readings[0]?.[1]).toBeGreaterThan(0)
  }, 240_000)
})
