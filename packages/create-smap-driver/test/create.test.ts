import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { uuid5 } from '@smap/sdk'
import { createDriverPackage } from 'create-smap-driver'
import { cli } from './_cli.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const FILES = ['.gitignore', 'LICENSE', 'README.md', 'conf.ini', 'package.json', 'src/index.ts', 'src/meter.ts', 'test/driver.test.ts', 'tsconfig.json', 'tsup.config.ts']

describe('create-smap-driver', () => {
  let dir: string
  const read = (file: string): Promise<string> => readFile(join(dir, 'my-meter', file), 'utf8')

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-create-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes the package with every placeholder filled', async () => {
    const created = await createDriverPackage({ name: 'my-meter', cwd: dir, rootUuid: ROOT })
    expect(created).toEqual({ directory: join(dir, 'my-meter'), packageName: 'smap-driver-my-meter', license: 'MIT', hasRepository: false, files: FILES })
    for (const file of FILES) expect(await read(file), file).not.toContain('{{')

    const pkg = JSON.parse(await read('package.json'))
    expect(pkg).toMatchObject({
      name: 'smap-driver-my-meter',
      description: 'sMAP driver for my-meter',
      license: 'MIT',
      keywords: ['smap-driver', 'smap'],
      type: 'module',
      files: ['dist'],
      scripts: { dev: 'smap dev' },
    })
    // no placeholder URL: without --repository the author adds it (the next steps say how)
    for (const field of ['repository', 'homepage', 'bugs']) expect(pkg, field).not.toHaveProperty(field)
    expect(pkg.devDependencies).toMatchObject({ tsx: '4.23.15' })
    expect(await read('src/index.ts')).toContain("name: 'my-meter',")
    expect(await read('conf.ini')).toContain(`uuid = ${ROOT}\n`)
    expect(await read('conf.ini')).toContain('[/meter]\ntype = smap-driver-my-meter\n')
    const readme = await read('README.md')
    expect(readme).toContain('[/meter]\ntype = smap-driver-my-meter\n')
    expect(readme).toContain('npx smap run-driver smap-driver-my-meter --opt Rate=5')
    expect(readme).toContain('npm run dev ')
    expect(readme).not.toMatch(/\bnpx smap uuid/)
    // the example output shows the uuid smap will give /meter/power under this config
    expect(readme).toContain(`{"uuid":"${uuid5(uuid5(ROOT, '/meter'), 'power')}"`)
  })

  it('escapes what the user typed for the file it lands in', async () => {
    const description = `Reads "Acme" meters' registers \\ over Modbus`
    await createDriverPackage({ name: 'my-meter', cwd: dir, packageName: '@acme/smap-driver-meter', description, author: 'Ada <ada@example.com>' })
    expect(JSON.parse(await read('package.json'))).toMatchObject({ name: '@acme/smap-driver-meter', description, author: 'Ada <ada@example.com>' })
    expect(await read('src/index.ts')).toContain(`description: 'Reads "Acme" meters\\' registers \\\\ over Modbus',`)
    expect(await read('conf.ini')).toContain('type = @acme/smap-driver-meter\n')
  })

  it('runs without questions from flags and prints the next steps', async () => {
    const result = await cli(['my-meter', '--yes', '--package-name', 'smap-driver-acme', '--description=Acme meters'], { cwd: dir })
    expect(result).toEqual({
      code: 0,
      stderr: '',
      stdout: [
        'Created smap-driver-acme in my-meter/',
        '',
        'Next:',
        '  cd my-meter',
        '  npm install',
        '  npm run dev       # the driver from src/, restarted on every change',
        '  npm test          # the driver against the SDK test harness',
        '  npm run build     # dist/, ready for npm publish',
        '  npm pkg set repository=github:OWNER/REPO   # where the source lives, linked from npm',
        '',
        'README.md shows how to run it with smap and how to publish it.',
        '',
      ].join('\n'),
    })
    expect(JSON.parse(await read('package.json'))).toMatchObject({ name: 'smap-driver-acme', description: 'Acme meters' })
  })

  it('refuses bad names and options with one line, exit 1', async () => {
    const fails = async (argv: string[]): Promise<string> => {
      const { code, stdout, stderr } = await cli(argv, { cwd: dir })
      expect([code, stdout]).toEqual([1, ''])
      return stderr
    }
    expect(await fails(['My Meter', '-y'])).toBe(
      'create-smap-driver: invalid driver name "My Meter": use lowercase letters, digits, "-", "." and "_", starting with a letter or digit (try "my-meter")\n',
    )
    expect(await fails(['@acme/meter', '-y'])).toBe(
      'create-smap-driver: invalid driver name "@acme/meter": use lowercase letters, digits, "-", "." and "_", starting with a letter or digit (try "meter"); a scoped package name goes in --package-name\n',
    )
    expect(await fails(['-y'])).toBe('create-smap-driver: a driver name is required, e.g. npm create smap-driver my-meter\n')
    expect(await fails(['my-meter', '-y', '--package-name', 'Smap_Driver'])).toBe(
      'create-smap-driver: invalid package name "Smap_Driver": use lowercase letters, digits, "-", "." and "_", starting with a letter or digit, optionally scoped as @scope/name\n',
    )
    expect(await fails(['my-meter', '-y', '--package-name', 'timeseries'])).toBe(
      'create-smap-driver: invalid package name "timeseries": a config reads `type = timeseries` as a resource, not a driver; choose another\n',
    )
    expect(await fails(['my-meter', '--packge-name', 'x'])).toBe(
      'create-smap-driver: unknown option --packge-name; options: --package-name, --description, --author, --license, --repository, --yes, --force (see create-smap-driver --help)\n',
    )
  })

  it('refuses a directory that is not empty unless --force', async () => {
    await mkdir(join(dir, 'my-meter'))
    await writeFile(join(dir, 'my-meter', 'notes.txt'), 'keep me')
    expect(await cli(['my-meter', '-y'], { cwd: dir })).toEqual({
      code: 1,
      stdout: '',
      stderr: 'create-smap-driver: my-meter is not empty: choose another name or directory, or pass --force to write into it\n',
    })
    await expect(read('package.json')).rejects.toThrow('ENOENT')
    expect((await cli(['my-meter', '-y', '--force'], { cwd: dir })).code).toBe(0)
    expect(await read('notes.txt')).toBe('keep me')
    expect(JSON.parse(await read('package.json')).name).toBe('smap-driver-my-meter')
  })

  it('asks for what the flags leave out, again after a bad answer', async () => {
    const stdin = new PassThrough()
    stdin.end('my-meter\nBad Name\n\nA meter\n\nGPL\nisc\nnot a repo\nacme/meter\n')
    const result = await cli([], { cwd: dir, interactive: true, stdin })
    expect(result.stdout).toContain(
      'Driver name, also its directory (my-meter): Package name (smap-driver-my-meter): ' +
        '  invalid package name "Bad Name": use lowercase letters, digits, "-", "." and "_", starting with a letter or digit, optionally scoped as @scope/name\n' +
        'Package name (smap-driver-my-meter): Description (sMAP driver for my-meter): Author: License (MIT): ' +
        '  unknown license "GPL": choose MIT, ISC, BSD-2-Clause, BSD-3-Clause or UNLICENSED\n' +
        'License (MIT): Repository (OWNER/REPO or URL; empty to add it later): ' +
        '  cannot read --repository "not a repo": expected OWNER/REPO (GitHub), github:, gitlab:, bitbucket: or codeberg:OWNER/REPO, or the repository URL\n' +
        'Repository (OWNER/REPO or URL; empty to add it later): Created smap-driver-my-meter in my-meter/\n',
    )
    expect(JSON.parse(await read('package.json'))).toMatchObject({
      name: 'smap-driver-my-meter',
      description: 'A meter',
      author: '',
      license: 'ISC',
      repository: { type: 'git', url: 'git+https://github.com/acme/meter.git' },
    })
    expect(result.stdout).not.toContain('npm pkg set repository')
    const cut = await cli(['other'], { cwd: dir, interactive: true, stdin: new PassThrough().end('') as PassThrough })
    expect(cut.stderr).toBe('create-smap-driver: input ended before every question was answered; pass --yes to take the defaults\n')
  })

  it('pins the toolchain the workspace tests with', async () => {
    const template = JSON.parse(await readFile(new URL('../template/_package.json', import.meta.url), 'utf8'))
    const workspace = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'))
    for (const tool of ['tsup', 'typescript', 'vitest', '@types/node', 'tsx']) expect(template.devDependencies[tool], tool).toBe(workspace.devDependencies[tool])
    expect(await readFile(new URL('../../../pnpm-workspace.yaml', import.meta.url), 'utf8')).toContain(`vite: ${template.overrides.vite}\n`)
  })
})
