import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ok, pack, publicPackages, ROOT_DIR, run, type PublicPackage } from './_packages.js'
import { startRegistry, type Registry } from './_registry.js'

// The tarballs a release ships, checked the way a user meets them: every
// public package packed as `pnpm publish` packs it, linted by publint
// (warnings count) and attw (the ESM-only profile: we ship no CommonJS),
// then installed from the tarballs into an empty folder outside the
// workspace, where the installed `smap` validates a config that names a
// driver from those tarballs. Third-party dependencies come through a
// verdaccio on loopback that proxies to the registry npm is configured with.

const PUBLINT = join(ROOT_DIR, 'node_modules', 'publint', 'src', 'cli.js')
const ATTW = join(ROOT_DIR, 'node_modules', '@arethetypeswrong', 'cli', 'dist', 'index.js')
const REPO = 'https://github.com/smap-ts/smap'
const MAP = `path,function,address,type,order,scale,offset,unit,writable,min,max,description
/supply_temp,input,0,int16,,0.1,,degC,,,,supply air
/fan,coil,0,,,,,on/off,true,,,supply fan
`

/** `exports` without the workspace-only "@smap/source" condition: what the tarball must carry. */
function published(exports: unknown): unknown {
  if (typeof exports !== 'object' || exports === null) return exports
  return Object.fromEntries(Object.entries(exports).filter(([k]) => k !== '@smap/source').map(([k, v]) => [k, published(v)]))
}

describe('the published packages', async () => {
  const packages = await publicPackages()
  let registry: Registry | undefined
  let dir: string
  const tarballs = new Map<string, string>()
  const manifests = new Map<string, Record<string, unknown>>()
  const files = new Map<string, string[]>()
  const env = (): NodeJS.ProcessEnv => registry?.env ?? {}

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-packages-'))
    registry = await startRegistry()
    await mkdir(join(dir, 'tarballs'))
    for (const pkg of packages) {
      const tarball = await pack(pkg, join(dir, 'tarballs'), env())
      tarballs.set(pkg.name, tarball)
      files.set(pkg.name, (await ok('tar', ['-tzf', tarball], { cwd: dir, env: env() })).trim().split('\n').sort())
      manifests.set(pkg.name, JSON.parse(await ok('tar', ['-xzOf', tarball, 'package/package.json'], { cwd: dir, env: env() })) as Record<string, unknown>)
    }
  }, 120_000)

  afterAll(async () => {
    await registry?.stop()
    if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  })

  it('are the eight the release publishes', () => {
    expect(packages.map((p) => p.name).sort()).toEqual([
      '@smap/cli', '@smap/core', '@smap/driver-caiso', '@smap/driver-dent', '@smap/driver-modbus', '@smap/sdk', '@smap/testing', 'create-smap-driver',
    ])
  })

  describe.each(packages.map((p) => [p.name, p] as [string, PublicPackage]))('%s', (name, pkg) => {
    it('declares its home, license, keywords and a prepack build', () => {
      expect(pkg.manifest).toMatchObject({
        license: 'BSD-2-Clause',
        homepage: `${REPO}/tree/main/${pkg.dir}#readme`,
        bugs: `${REPO}/issues`,
        repository: { type: 'git', url: `git+${REPO}.git`, directory: pkg.dir },
        scripts: { prepack: 'tsup' },
        publishConfig: { access: 'public', exports: published(pkg.manifest.exports) },
      })
      expect((pkg.manifest.keywords as string[]).length).toBeGreaterThan(0)
      expect(pkg.manifest.keywords).toContain('smap')
    })

    it('ships dist/, its LICENSE and README, and a package.json with no workspace ranges or source condition', () => {
      const list = files.get(name) as string[]
      expect(list).toEqual(expect.arrayContaining(['package/LICENSE', 'package/README.md', 'package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts']))
      expect(list.filter((f) => f.startsWith('package/src/') || f.startsWith('package/test/'))).toEqual([])
      const manifest = manifests.get(name) as Record<string, unknown>
      const text = JSON.stringify(manifest)
      expect(text).not.toContain('workspace:')
      expect(text).not.toContain('@smap/source')
      expect(manifest.exports).toEqual(published(pkg.manifest.exports))
      expect(manifest.version).toBe(pkg.version)
      for (const [dep, range] of Object.entries({ ...(manifest.dependencies as object), ...(manifest.peerDependencies as object) }) as Array<[string, string]>) {
        if (dep.startsWith('@smap/')) expect(range, `${name} → ${dep}`).toMatch(/^(\^|>=)\d+\.\d+\.\d+/)
      }
    })

    it('passes publint, warnings included', async () => {
      const result = await run(process.execPath, [PUBLINT, 'run', '--strict', tarballs.get(name) as string], { cwd: dir, env: env() })
      expect(result.code, result.output).toBe(0)
    })

    it('passes attw with the ESM-only profile', async () => {
      const result = await run(process.execPath, [ATTW, '--profile', 'esm-only', '--format', 'ascii', '--no-color', '--no-emoji', tarballs.get(name) as string], { cwd: dir, env: env() })
      expect(result.code, result.output).toBe(0)
    })
  })

  it('install from the tarballs into an empty folder, where smap validates a config naming a driver from them', async () => {
    const site = join(dir, 'site')
    await mkdir(join(site, 'maps'), { recursive: true })
    await writeFile(join(site, 'package.json'), '{ "name": "site", "private": true }\n')
    await ok('npm', ['install', '--registry', registry?.url as string, ...tarballs.values()], { cwd: site, env: env(), timeout: 240_000 })

    const version = await ok('npx', ['--no-install', 'smap', '--version'], { cwd: site, env: env() })
    expect(version.trim()).toBe(packages.find((p) => p.name === '@smap/cli')?.version)

    await writeFile(join(site, 'maps', 'ahu.csv'), MAP)
    const conf = (map: string): string =>
      `[/]\nuuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92\n\n[/ahu]\ntype = @smap/driver-modbus\nAddress = 127.0.0.1\nPort = 1502\nTransport = modbus-tcp\nRegisterMap = ${map}\n`
    await writeFile(join(site, 'conf.ini'), conf('maps/ahu.csv'))
    expect(await ok('npx', ['--no-install', 'smap', 'validate', 'conf.ini'], { cwd: site, env: env() })).toContain('conf.ini: ok')

    // and a mistake in it is one line at the config line, from the installed packages too
    await writeFile(join(site, 'bad.ini'), conf('maps/missing.csv'))
    const bad = await run('npx', ['--no-install', 'smap', 'validate', 'bad.ini'], { cwd: site, env: env() })
    expect(bad.code, bad.output).not.toBe(0)
    expect(bad.output).toMatch(/bad\.ini:\d+ \[\/ahu\] RegisterMap: .*missing\.csv/)
    expect(bad.output).not.toMatch(/\n\s+at /)
  }, 300_000)
})
