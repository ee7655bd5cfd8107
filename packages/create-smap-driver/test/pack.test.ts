import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { publint } from 'publint'
import { formatMessage } from 'publint/utils'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SDK_VERSION } from '@smap/sdk'
import { lineRange } from '../src/_versions.js'

// The tarball npm would publish, checked the way a registry user meets it: publint on the
// tarball, and its bin run from a folder outside the workspace, where no sibling package is.

const exec = promisify(execFile)
const PKG_DIR = fileURLToPath(new URL('..', import.meta.url))
const PNPM = fileURLToPath(new URL('../../../node_modules/pnpm/bin/pnpm.cjs', import.meta.url))

describe('the packed create-smap-driver', () => {
  let dir: string
  let tarball: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-create-pack-'))
    await exec(process.execPath, [PNPM, 'pack', '--pack-destination', dir], { cwd: PKG_DIR })
    tarball = join(dir, (await readdir(dir)).find((f) => f.endsWith('.tgz')) as string)
  }, 120_000)
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('passes publint, strict', async () => {
    const data = await readFile(tarball)
    const { messages, pkg } = await publint({ pack: { tarball: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) }, strict: true })
    expect(messages.map((m) => formatMessage(m, pkg, { color: false }))).toEqual([])
    const { stdout } = await exec('tar', ['-tzf', tarball])
    // the template's package.json ships under another name, so nothing reads it as a package
    expect(stdout.split('\n')).toContain('package/template/_package.json')
    expect(stdout.split('\n')).not.toContain('package/template/package.json')
  })

  it('scaffolds from outside the workspace with the SDK range it was built with', async () => {
    const installed = join(dir, 'site', 'node_modules', 'create-smap-driver')
    await mkdir(installed, { recursive: true })
    await exec('tar', ['-xzf', tarball, '-C', installed, '--strip-components=1'])
    // its dependencies, as npm would install them beside it
    for (const dep of ['citty', 'uuid']) await symlink(join(PKG_DIR, 'node_modules', dep), join(dir, 'site', 'node_modules', dep), 'junction')
    const { stdout } = await exec(process.execPath, [join(installed, 'bin', 'create-smap-driver.js'), 'my-meter', '--yes'], { cwd: dir })
    expect(stdout).toContain('Created smap-driver-my-meter in my-meter/')
    const pkg = JSON.parse(await readFile(join(dir, 'my-meter', 'package.json'), 'utf8'))
    expect(pkg.peerDependencies).toEqual({ '@smap/sdk': lineRange(SDK_VERSION) })
    expect(pkg.license).toBe('MIT')
    expect((await readdir(join(dir, 'my-meter'))).sort()).toEqual(['.gitignore', 'LICENSE', 'README.md', 'conf.ini', 'package.json', 'src', 'test', 'tsconfig.json', 'tsup.config.ts'])
  }, 30_000)
})
