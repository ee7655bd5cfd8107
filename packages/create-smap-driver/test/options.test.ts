import { execFile, spawnSync } from 'node:child_process'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PassThrough } from 'node:stream'
import { promisify } from 'node:util'
import semver from 'semver'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SDK_VERSION } from '@smap/sdk'
import { createDriverPackage } from 'create-smap-driver'
import { lineRange } from '../src/_versions.js'
import { cli } from './_cli.js'

const exec = promisify(execFile)
const BIN = fileURLToPath(new URL('../bin/create-smap-driver.js', import.meta.url))
const ESC = '\u001b['
const YEAR = new Date().getFullYear()

// what a shell gives a child: no test runner's markers (citty drops colours under TEST or CI itself)
const plainEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(VITEST|TEST$|CI$|NO_COLOR$|FORCE_COLOR$|npm_)/.test(k)))

describe('create-smap-driver --help', () => {
  it('is plain text when piped, and says options go after -- through npm', async () => {
    const { stdout } = await exec(process.execPath, [BIN, '--help'], { env: { ...plainEnv(), TERM: 'xterm-256color' } })
    expect(stdout).not.toContain(ESC)
    expect(stdout).toContain('USAGE create-smap-driver [OPTIONS] [NAME]')
    expect(stdout).toContain('--license=<license>    MIT (default), ISC, BSD-2-Clause, BSD-3-Clause or UNLICENSED')
    expect(stdout).toContain('  npm create smap-driver my-meter -- --yes --license ISC')
    expect(stdout).not.toMatch(/ +$/m)
  })

  const script = spawnSync('script', ['--version']).status === 0
  it.skipIf(!script)('is coloured on a terminal unless NO_COLOR is set', async () => {
    // script(1) gives the command a pseudo-terminal for stdout
    const onTerminal = async (env: NodeJS.ProcessEnv): Promise<string> =>
      (await exec('script', ['-qec', `"${process.execPath}" "${BIN}" --help`, '/dev/null'], { env: { ...plainEnv(), TERM: 'xterm-256color', ...env } })).stdout
    expect(await onTerminal({})).toContain(`${ESC}36m--force`)
    const plain = await onTerminal({ NO_COLOR: '1' })
    expect(plain).toContain('--force')
    expect(plain).not.toContain(ESC)
  })
})

describe('create-smap-driver options', () => {
  let dir: string
  const read = (file: string): Promise<string> => readFile(join(dir, 'my-meter', file), 'utf8')

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-create-options-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes --license to package.json and LICENSE, with the year and the author', async () => {
    expect((await cli(['my-meter', '--yes', '--author', 'Ada Lovelace <ada@example.com> (https://ada.dev)', '--license', 'bsd-3-clause'], { cwd: dir })).code).toBe(0)
    expect(JSON.parse(await read('package.json')).license).toBe('BSD-3-Clause')
    const text = await read('LICENSE')
    expect(text.startsWith(`BSD 3-Clause License\n\nCopyright (c) ${YEAR} Ada Lovelace\n\nRedistribution and use`)).toBe(true)
    expect(text).toContain('3. Neither the name of the copyright holder')

    await rm(join(dir, 'my-meter'), { recursive: true })
    await createDriverPackage({ name: 'my-meter', cwd: dir, year: 2031 })
    expect(JSON.parse(await read('package.json')).license).toBe('MIT')
    expect(await read('LICENSE')).toMatch(/^MIT License\n\nCopyright \(c\) 2031 the smap-driver-my-meter authors\n\nPermission is hereby granted/)

    await rm(join(dir, 'my-meter'), { recursive: true })
    const created = await createDriverPackage({ name: 'my-meter', cwd: dir, license: 'UNLICENSED' })
    expect(created.files).not.toContain('LICENSE')
    expect(JSON.parse(await read('package.json')).license).toBe('UNLICENSED')
    await expect(read('LICENSE')).rejects.toThrow('ENOENT')

    expect(await cli(['other', '--yes', '--license', 'GPL-3.0'], { cwd: dir })).toEqual({
      code: 1,
      stdout: '',
      stderr: 'create-smap-driver: unknown license "GPL-3.0": choose MIT, ISC, BSD-2-Clause, BSD-3-Clause or UNLICENSED\n',
    })
  })

  it('derives repository, homepage and bugs from --repository', async () => {
    const fields = async (repository: string): Promise<Record<string, unknown>> => {
      await rm(join(dir, 'my-meter'), { recursive: true, force: true })
      await createDriverPackage({ name: 'my-meter', cwd: dir, repository })
      const { repository: r, homepage, bugs } = JSON.parse(await read('package.json')) as Record<string, unknown>
      return { repository: r, homepage, bugs }
    }
    expect(await fields('acme/meter')).toEqual({
      repository: { type: 'git', url: 'git+https://github.com/acme/meter.git' },
      homepage: 'https://github.com/acme/meter#readme',
      bugs: { url: 'https://github.com/acme/meter/issues' },
    })
    expect(await fields('gitlab:acme/meter')).toMatchObject({ bugs: { url: 'https://gitlab.com/acme/meter/issues' } })
    expect(await fields('https://git.example.com/acme/meter.git')).toEqual({
      repository: { type: 'git', url: 'git+https://git.example.com/acme/meter.git' },
      homepage: 'https://git.example.com/acme/meter#readme',
      bugs: undefined,
    })
    expect(await fields('git+ssh://git@git.example.com/acme/meter.git')).toEqual({
      repository: { type: 'git', url: 'git+ssh://git@git.example.com/acme/meter.git' },
      homepage: undefined,
      bugs: undefined,
    })
    // after license, as npm init writes them
    expect(Object.keys(JSON.parse(await read('package.json'))).slice(3, 7)).toEqual(['author', 'license', 'repository', 'keywords'])
    const bad = await cli(['x', '--yes', '--repository', 'ftp://example.com/x'], { cwd: dir })
    expect(bad.stderr).toBe(
      'create-smap-driver: cannot read --repository "ftp://example.com/x": expected OWNER/REPO (GitHub), github:, gitlab:, bitbucket: or codeberg:OWNER/REPO, or the repository URL\n',
    )
  })

  it('gives @smap/sdk the range of its contract line, from the SDK it was built with', async () => {
    expect(lineRange('0.1.0')).toBe('>=0.1.0 <1.0.0')
    expect(lineRange('0.7.3')).toBe('>=0.7.0 <1.0.0')
    expect(lineRange('1.4.2')).toBe('^1.4.0')
    expect(lineRange('2.0.0-next.1')).toBe('^2.0.0')
    await createDriverPackage({ name: 'my-meter', cwd: dir })
    const pkg = JSON.parse(await read('package.json'))
    const range = pkg.peerDependencies['@smap/sdk'] as string
    expect(range).toBe(lineRange(SDK_VERSION))
    expect(pkg.devDependencies['@smap/sdk']).toBe(range)
    // the promise: every later release of the line, nothing older, nothing of the next line
    const v = semver.parse(SDK_VERSION) as semver.SemVer
    expect(semver.satisfies(SDK_VERSION, range)).toBe(true)
    expect(semver.satisfies(`${v.major}.${v.minor + 1}.0`, range)).toBe(true)
    expect(semver.satisfies(`${v.major}.${v.minor}.${v.patch + 3}`, range)).toBe(true)
    if (v.minor > 0) expect(semver.satisfies(`${v.major}.${v.minor - 1}.0`, range)).toBe(false)
    expect(semver.satisfies(v.major === 0 ? '1.0.0' : `${v.major + 1}.0.0`, range)).toBe(false)
    for (const [dep, dirName] of [['@smap/testing', 'testing'], ['@smap/cli', 'cli']] as const) {
      const { version } = JSON.parse(await readFile(new URL(`../../${dirName}/package.json`, import.meta.url), 'utf8')) as { version: string }
      expect(pkg.devDependencies[dep], dep).toBe(lineRange(version))
    }
  })
})

describe('create-smap-driver under npm create', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-create-npm-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  // what npm 11 gives the initializer for `npm create smap-driver ...` (observed): npm_command=init,
  // and the options it read as its own as npm_config_* variables, gone from the arguments
  const npmInit = (config: Record<string, string> = {}): NodeJS.ProcessEnv => ({ npm_command: 'init', ...config })

  it('takes the --yes npm kept, with a note that options go after --', async () => {
    const result = await cli(['my-meter'], { cwd: dir, interactive: true, env: npmInit({ npm_config_yes: 'true' }) })
    expect(result.code).toBe(0)
    expect(result.stderr).toBe(
      'create-smap-driver: npm kept --yes for itself; taking it as ours (options after `npm create smap-driver NAME` go after --, e.g. npm create smap-driver my-meter -- --yes --license ISC)\n',
    )
    expect(result.stdout).toMatch(/^Created smap-driver-my-meter in my-meter\//)
    // `npx -y create-smap-driver` sets the same variable for npm's own question: not ours to take
    const stdin = new PassThrough()
    stdin.end('')
    const npx = await cli(['other'], { cwd: dir, interactive: true, stdin, env: { npm_command: 'exec', npm_config_yes: 'true' } })
    expect(npx.stderr).toBe('create-smap-driver: input ended before every question was answered; pass --yes to take the defaults\n')
    // typed after --, it is ours and there is nothing to say
    expect(await cli(['third', '--yes'], { cwd: dir, env: npmInit() })).toMatchObject({ code: 0, stderr: '' })
  })

  it('refuses the other options npm kept, saying to put them after --', async () => {
    const tip = 'options after `npm create smap-driver NAME` go after --, e.g. npm create smap-driver my-meter -- --yes --license ISC'
    expect(await cli(['my-meter'], { cwd: dir, env: npmInit({ npm_config_yes: 'true', npm_config_author: 'Ada' }) })).toEqual({
      code: 1,
      stdout: '',
      stderr: `create-smap-driver: npm kept --author for itself, so it never reached create-smap-driver: ${tip}\n`,
    })
    // --package-name p: npm keeps the flag and leaves its value as an argument
    const left = await cli(['my-meter', 'p'], { cwd: dir, env: npmInit({ npm_config_package_name: 'true' }) })
    expect(left.stderr).toBe(`create-smap-driver: npm kept --package-name for itself, so it never reached create-smap-driver: ${tip}\n`)
    // --description is an npm option too, and its default: npm passes nothing but the value
    const description = await cli(['my-meter', 'Acme', '--yes'], { cwd: dir, env: npmInit() })
    expect(description.stderr).toBe(`create-smap-driver: expected one NAME, got 2 arguments: my-meter Acme; ${tip} (see create-smap-driver --help)\n`)
    // npm's --force (it is also npm's) is not taken: only named in the error it would have avoided
    await mkdir(join(dir, 'my-meter'))
    await writeFile(join(dir, 'my-meter', 'notes.txt'), 'keep me')
    const force = await cli(['my-meter'], { cwd: dir, env: npmInit({ npm_config_yes: 'true', npm_config_force: 'true' }) })
    expect([force.code, force.stderr.split('\n')[1]]).toEqual([
      1,
      'create-smap-driver: my-meter is not empty: choose another name or directory, or pass --force to write into it; npm kept --force for itself: options after `npm create smap-driver NAME` go after --, e.g. npm create smap-driver my-meter -- --force',
    ])
  })
})
