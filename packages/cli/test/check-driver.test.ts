import { execFile } from 'node:child_process'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SDK_VERSION } from '@smap/sdk'
import { createDriverPackage } from '../../create-smap-driver/src/index.js'
import { checkDriverPackage, type DriverCheck } from '../src/check-driver.js'
import { cli, link } from './_cli.js'

// Scaffolds a driver with create-smap-driver, builds it with the workspace's
// tsup, and scores it and broken copies of it; then the official drivers.

const exec = promisify(execFile)
const workspace = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url))
const [major, minor] = SDK_VERSION.split('.').map(Number) as [number, number]
const PROMISED = major === 0 ? `>=0.${minor}.0 <1.0.0` : `^${major}.${minor}.0`

async function tsup(dir: string, args: string[] = []): Promise<void> {
  const manifest = JSON.parse(await readFile(workspace('node_modules/tsup/package.json'), 'utf8')) as { bin: Record<string, string> }
  await exec(process.execPath, [join(workspace('node_modules/tsup'), manifest.bin.tsup as string), ...args], { cwd: dir })
}

const byName = (checks: DriverCheck[]): Record<string, DriverCheck> => Object.fromEntries(checks.map((c) => [c.name, c]))
const levels = (checks: DriverCheck[]): Record<string, string> => Object.fromEntries(checks.map((c) => [c.name, c.level]))

async function editJson(file: string, edit: (pkg: Record<string, unknown>) => void): Promise<void> {
  const pkg = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
  edit(pkg)
  await writeFile(file, JSON.stringify(pkg, null, 2))
}

describe('smap check-driver', () => {
  let dir: string
  let good: string
  let copies = 0

  /** A copy of the good package, changed by `edit`. */
  async function variant(edit: (pkgDir: string) => Promise<void>): Promise<string> {
    const target = join(dir, `variant-${++copies}`)
    await cp(good, target, { recursive: true, verbatimSymlinks: true })
    await edit(target)
    return target
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-check-driver-'))
    good = (await createDriverPackage({ name: 'my-meter', cwd: dir, rootUuid: '75503ac2-abf0-11e0-b7d6-0026bb56ec92' })).directory
    for (const tool of ['tsup', 'typescript', '@types/node']) await link(good, tool, workspace(`node_modules/${tool}`))
    await link(good, '@smap/sdk', workspace('packages/sdk'))
    // what a driver ready to publish has, whatever this version of the scaffold writes
    await editJson(join(good, 'package.json'), (pkg) => {
      pkg.license ??= 'MIT'
      pkg.peerDependencies = { '@smap/sdk': PROMISED }
    })
    await writeFile(join(good, 'LICENSE'), 'MIT License\n\nCopyright (c) the author\n')
    await tsup(good)
  }, 120_000)

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('passes a scaffolded, built driver on every check', async () => {
    const checks = await checkDriverPackage(good)
    expect(levels(checks)).toEqual(Object.fromEntries(checks.map((c) => [c.name, 'pass'])))
    for (const name of ['keyword', 'license', 'sdk range', 'type', 'engines', 'test script', 'files', 'exports', 'exports in files', 'built', 'types', 'driver', 'options', 'tests', 'readme']) {
      expect(byName(checks)[name]?.level, name).toBe('pass')
    }
    expect(byName(checks).driver?.message).toBe('loads; a config names it type = smap-driver-my-meter')
    const r = await cli(['check-driver', good])
    expect(r.code).toBe(0)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^pass {2}keyword {2,}"smap-driver" is in keywords$/m)
    expect(r.stdout).toMatch(/\nready to publish: \d+ passed, 0 warnings, 0 failed\n$/)
  })

  it('fails a package without the smap-driver keyword, saying what to add', async () => {
    const pkgDir = await variant((d) => editJson(join(d, 'package.json'), (pkg) => void (pkg.keywords = ['smap'])))
    const r = await cli(['check-driver', pkgDir])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/^FAIL {2}keyword {2,}add "smap-driver" to "keywords" in package.json/m)
    expect(r.stdout).toMatch(/\nnot ready to publish: \d+ passed, 0 warnings, 1 failed\n$/)
    expect(r.stderr).toBe('smap check-driver: 1 check failed: fix the FAIL line above, then run smap check-driver again\n')
  })

  it('warns about an SDK range narrower than the promise and fails one that excludes this SDK', async () => {
    const caret = await variant((d) => editJson(join(d, 'package.json'), (pkg) => void (pkg.peerDependencies = { '@smap/sdk': `^${SDK_VERSION}` })))
    const narrow = byName(await checkDriverPackage(caret))['sdk range']
    if (major === 0) expect(narrow).toEqual({ level: 'warn', name: 'sdk range', message: `peer range "^${SDK_VERSION}" shuts out later @smap/sdk releases the compatibility promise says the driver works with: write "${PROMISED}"` })
    expect((await cli(['check-driver', caret])).code).toBe(major === 0 ? 0 : 1)

    const ahead = major === 0 ? `>=0.${minor + 1}.0 <1.0.0` : `^${major}.${minor + 1}.0`
    const excluding = await variant((d) => editJson(join(d, 'package.json'), (pkg) => void (pkg.peerDependencies = { '@smap/sdk': ahead })))
    const checks = byName(await checkDriverPackage(excluding))
    expect(checks['sdk range']).toMatchObject({ level: 'fail', message: expect.stringContaining(`peer range "${ahead}" excludes @smap/sdk ${major}.${minor}, which this smap runs, so hosts refuse the driver: write "${PROMISED}"`) })
    // and the host refuses to load it, as a site would
    expect(checks.driver).toMatchObject({ level: 'fail', message: expect.stringContaining(`needs @smap/sdk >=${major}.${minor + 1}.0 (it declares ${ahead})`) })
    expect((await cli(['check-driver', excluding])).code).toBe(1)

    const bundled = await variant((d) => editJson(join(d, 'package.json'), (pkg) => void (pkg.dependencies = { '@smap/sdk': PROMISED })))
    expect(byName(await checkDriverPackage(bundled))['sdk range']?.level).toBe('fail')
  })

  it('warns about a README without a config section', async () => {
    const pkgDir = await variant((d) => writeFile(join(d, 'README.md'), '# my-meter\n\nReads a meter.\n'))
    const checks = byName(await checkDriverPackage(pkgDir))
    expect(checks.readme).toEqual({ level: 'warn', name: 'readme', message: 'README.md has no config section: add a ```ini block with [/meter] and type = smap-driver-my-meter (smap describe prints one)' })
    const r = await cli(['check-driver', pkgDir])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/ready to publish: \d+ passed, 1 warning, 0 failed\n$/)
  })

  it('fails a driver with an option that has no description', async () => {
    const pkgDir = await variant(async (d) => {
      const file = join(d, 'src', 'index.ts')
      const src = await readFile(file, 'utf8')
      const edited = src.replace(/(Scale: z\.coerce\.number\(\)\.positive\(\)\.default\(1\))\.describe\((['"]).*?\2\)/, '$1')
      expect(edited).not.toBe(src)
      await writeFile(file, edited)
      await tsup(d, ['src/index.ts', '--format', 'esm', '--no-config'])
    })
    const checks = byName(await checkDriverPackage(pkgDir))
    expect(checks.options).toMatchObject({ level: 'fail', message: expect.stringMatching(/^no description for Scale: add \.describe\(/) })
    expect((await cli(['check-driver', pkgDir])).code).toBe(1)
  }, 60_000)

  it('says to build an unbuilt package, and checks exports against files', async () => {
    const unbuilt = await variant((d) => rm(join(d, 'dist'), { recursive: true }))
    const checks = byName(await checkDriverPackage(unbuilt))
    expect(checks.built).toEqual({ level: 'fail', name: 'built', message: './dist/index.d.ts, ./dist/index.js do not exist: npm run build, then check again' })
    expect(checks.driver).toMatchObject({ level: 'fail', message: 'not loaded: its entry is not built (see above)' })

    const outside = await variant((d) =>
      editJson(join(d, 'package.json'), (pkg) => {
        pkg.exports = { '.': { source: './src/index.ts', types: './dist/index.d.ts', require: './src/index.ts', default: './dist/index.js' } }
      }),
    )
    expect(byName(await checkDriverPackage(outside))['exports in files']).toMatchObject({ level: 'fail', message: expect.stringMatching(/^\. require → \.\/src\/index\.ts: not in "files"/) })
    const custom = await variant((d) =>
      editJson(join(d, 'package.json'), (pkg) => {
        pkg.exports = { '.': { source: './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' } }
      }),
    )
    expect(byName(await checkDriverPackage(custom))['exports in files']).toMatchObject({ level: 'warn', message: expect.stringMatching(/^\. source → \.\/src\/index\.ts: not in "files"/) })
    // what pnpm publishes (publishConfig.exports) is what counts
    const published = await variant((d) =>
      editJson(join(d, 'package.json'), (pkg) => {
        pkg.publishConfig = { exports: pkg.exports }
        pkg.exports = { '.': { source: './src/index.ts', types: './dist/index.d.ts', default: './dist/index.js' } }
      }),
    )
    expect(byName(await checkDriverPackage(published))['exports in files']).toMatchObject({ level: 'pass', message: 'every target of publishConfig.exports is in "files"' })
  })

  it('says what it needs when the folder is not a package', async () => {
    expect(await cli(['check-driver', join(dir, 'nothing')])).toEqual({ code: 1, stdout: '', stderr: `smap check-driver: ${join(dir, 'nothing')} is not a directory: name the driver package's folder, e.g. smap check-driver .\n` })
    expect(await cli(['check-driver', dir])).toEqual({ code: 1, stdout: '', stderr: `smap check-driver: no package.json in ${dir}: run smap check-driver in (or on) a driver package's folder\n` })
  })

  it('passes the official drivers (warnings allowed)', async () => {
    for (const name of ['driver-caiso', 'driver-modbus', 'driver-dent']) {
      const checks = await checkDriverPackage(workspace(`packages/${name}`))
      expect(checks.filter((c) => c.level === 'fail'), name).toEqual([])
      expect(byName(checks).options?.message, name).toMatch(/^all \d+ options described$/)
    }
  })
})
