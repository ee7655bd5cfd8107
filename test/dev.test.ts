import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createDriverPackage } from '../packages/create-smap-driver/src/index.js'
import { SMAP_BIN, start, type Running } from './_process.js'
import { link } from '../packages/cli/test/_cli.js'

// `smap dev` as an author runs it: a driver scaffolded into a temp folder,
// never built, its SDK and tsx linked from the workspace; real files
// changed under a real `smap dev` process, its output and HTTP read.

const workspace = (path: string): string => fileURLToPath(new URL(`../${path}`, import.meta.url))
const TSX_DIR = dirname(createRequire(import.meta.url).resolve('tsx/package.json'))
const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
// restarting runs tsx and the host again; the machine may be busy
const SLOW = 60_000

/** Waits for `re` in what the process printed after `from` characters; returns the match and where it ends. */
async function after(running: Running, from: number, re: RegExp, ms = SLOW): Promise<{ match: RegExpMatchArray; end: number }> {
  const deadline = Date.now() + ms
  for (;;) {
    const out = running.output()
    const match = out.slice(from).match(re)
    if (match) return { match, end: from + (match.index ?? 0) + match[0].length }
    if (running.child.exitCode !== null) throw new Error(`smap dev exited (${running.child.exitCode}) before printing ${re}; output:\n${out}`)
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; output:\n${out}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** The processes whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        // "PID (comm) STATE PPID ...": comm may hold spaces, so read after its last ")"
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid
      } catch {
        return false
      }
    })
    .map(Number)
}

const alive = (pid: number): boolean => existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')

/** SIGINT as Ctrl-C sends it to smap dev; resolves once it and its child are gone. */
async function interrupt(running: Running): Promise<void> {
  const kids = childrenOf(running.child.pid as number)
  expect(kids.length).toBe(1)
  running.child.kill('SIGINT')
  expect(await running.exited).toBe(0)
  for (let i = 0; i < 50 && kids.some(alive); i++) await new Promise((r) => setTimeout(r, 100))
  expect(kids.filter(alive)).toEqual([])
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  return (await (await fetch(url)).json()) as Record<string, unknown>
}

describe('smap dev', () => {
  let dir: string
  let pkg: string
  let original: string
  let running: Running | undefined

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-dev-'))
    pkg = (await createDriverPackage({ name: 'my-meter', directory: join(dir, 'my-meter'), rootUuid: ROOT })).directory
    await link(pkg, '@smap/sdk', workspace('packages/sdk'))
    await link(pkg, 'tsx', TSX_DIR)
    original = await readFile(join(pkg, 'src/index.ts'), 'utf8')
  })
  afterEach(async () => {
    if (running && running.child.exitCode === null) {
      for (const kid of childrenOf(running.child.pid as number)) process.kill(kid, 'SIGKILL')
      running.child.kill('SIGKILL')
    }
    running = undefined
    await writeFile(join(pkg, 'src/index.ts'), original)
  })
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('runs the package from source, restarts on a change, survives a syntax error, and stops with its child on Ctrl-C', async () => {
    // never built, not installed: only the source can run
    expect(existsSync(join(pkg, 'dist'))).toBe(false)
    running = start(SMAP_BIN, ['dev', '--port', '0', '--opt', 'Rate=1'], { cwd: pkg })
    const r = running
    let at = (await after(r, 0, /watching src\/; Ctrl-C stops/)).end
    const serving = await after(r, at, /serving at (http:\/\/127\.0\.0\.1:(\d+))\/data \(status at http:\/\/127\.0\.0\.1:\d+\/status\)/)
    const url = serving.match[1] as string
    at = (await after(r, 0, /\d\d:\d\d:\d\d\.\d{3} {2}\/power {2}\d+(\.\d+)? W\n/)).end
    await after(r, 0, /\/ {2}state running\n/)
    expect(await getJson(`${url}/data/power`)).toMatchObject({ Properties: { UnitofMeasure: 'W' } })
    expect(await getJson(`${url}/status`)).toMatchObject({ drivers: { '/': { state: 'running' } } })

    // a change: the new unit, on the same port
    await writeFile(join(pkg, 'src/index.ts'), original.replace("'power', 'W'", "'power', 'kW'"))
    at = (await after(r, at, /restarting: src\/index\.ts changed\n/)).end
    const again = await after(r, at, /serving at (http:\/\/127\.0\.0\.1:\d+)\/data/)
    expect(again.match[1]).toBe(url)
    at = (await after(r, at, /\/power {2}\d+(\.\d+)? kW\n/)).end
    expect(await getJson(`${url}/data/power`)).toMatchObject({ Properties: { UnitofMeasure: 'kW' } })

    // a syntax error is shown, and smap dev waits for the fix
    await writeFile(join(pkg, 'src/index.ts'), `${original}\nexport const = 1\n`)
    at = (await after(r, at, /restarting: src\/index\.ts changed\n/)).end
    at = (await after(r, at, /error driver "\.\/src\/index\.ts" failed to load: [^\n]*\n[^\n]*src\/index\.ts:\d+:\d+: ERROR: Expected identifier/)).end
    at = (await after(r, at, /waiting for a change to restart \(Ctrl-C to stop\)\n/)).end
    await new Promise((resolve) => setTimeout(resolve, 500))
    expect(r.child.exitCode).toBe(null)
    await expect(fetch(`${url}/data`)).rejects.toThrow()

    // fixed: it runs again
    await writeFile(join(pkg, 'src/index.ts'), original.replace("'power', 'W'", "'power', 'MW'"))
    at = (await after(r, at, /restarting: src\/index\.ts changed\n/)).end
    expect((await after(r, at, /serving at (http:\/\/127\.0\.0\.1:\d+)\/data/)).match[1]).toBe(url)
    at = (await after(r, at, /\/power {2}\d+(\.\d+)? MW\n/)).end
    await interrupt(r)
  }, 4 * SLOW)

  it('runs conf.ini with the package being developed, shows a throw in setup, and restarts on a config change', async () => {
    // the config names the package, which is not in its own node_modules
    expect(existsSync(join(pkg, 'node_modules', 'smap-driver-my-meter'))).toBe(false)
    await writeFile(join(pkg, 'src/index.ts'), original.replace('  setup(ctx, options) {\n', "  setup(ctx, options) {\n    if (options.Scale > 1) throw new Error('no meter at this scale')\n"))
    running = start(SMAP_BIN, ['dev', 'conf.ini', '--port', '0', '--quiet'], { cwd: pkg })
    const r = running
    let at = (await after(r, 0, /watching src\/, conf\.ini; Ctrl-C stops/)).end
    const url = (await after(r, at, /serving at (http:\/\/127\.0\.0\.1:\d+)\/data/)).match[1] as string
    at = (await after(r, at, /\/meter {2}state running\n/)).end
    expect(await getJson(`${url}/data/meter/power`)).toMatchObject({ Properties: { UnitofMeasure: 'W' } })
    // --quiet: no reading lines
    expect(r.output()).not.toMatch(/\/meter\/power {2}\d/)

    // the config changes: the driver now throws in setup; the error shows with the author's line, and smap dev stays up
    const conf = await readFile(join(pkg, 'conf.ini'), 'utf8')
    await writeFile(join(pkg, 'conf.ini'), conf.replace('Scale = 1', 'Scale = 2'))
    at = (await after(r, at, /restarting: conf\.ini changed\n/)).end
    at = (await after(r, at, /error driver \/meter \(smap-driver-my-meter\): failed in setup; restarting it in [\d.]+ s\n {2}Error: no meter at this scale\n {2}at [^\n]*src\/index\.ts:\d+:\d+/)).end
    at = (await after(r, at, /\/meter {2}state backoff\n/)).end
    expect(r.child.exitCode).toBe(null)

    // the source is fixed: it runs with Scale 2
    await writeFile(join(pkg, 'src/index.ts'), original)
    at = (await after(r, at, /restarting: src\/index\.ts changed\n/)).end
    at = (await after(r, at, /\/meter {2}state running\n/)).end
    expect(await getJson(`${url}/data/meter/current`)).toMatchObject({ Metadata: { Extra: { Scale: '2' } } })
    await interrupt(r)
  }, 4 * SLOW)

  it('says what to install when tsx is missing', async () => {
    const bare = join(dir, 'bare')
    await mkdir(join(bare, 'src'), { recursive: true })
    await writeFile(join(bare, 'package.json'), JSON.stringify({ name: 'smap-driver-bare', type: 'module' }))
    await writeFile(join(bare, 'src/index.ts'), 'export default {}\n')
    running = start(SMAP_BIN, ['dev'], { cwd: bare })
    expect(await running.exited).toBe(1)
    expect(running.output()).toBe(`smap dev: src/index.ts is TypeScript, which smap dev runs through tsx, and tsx is not installed in ${bare}: run \`npm install -D tsx\` there\n`)
  }, SLOW)
})
