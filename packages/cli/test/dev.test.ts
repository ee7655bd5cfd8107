import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { wantsColor } from '../src/_usage.js'
import { devOutput, formatTime } from '../src/dev-format.js'
import { sourceEntry } from '../src/dev-package.js'
import { DevWatcher, isWatchedChange } from '../src/dev-watch.js'
import { planDev } from '../src/dev.js'

const base = { opts: {}, quiet: false, color: false }

describe('smap dev', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-dev-unit-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  async function files(entries: Record<string, string>): Promise<void> {
    for (const [name, text] of Object.entries(entries)) {
      await mkdir(join(dir, name, '..'), { recursive: true })
      await writeFile(join(dir, name), text)
    }
  }

  it('runs the source condition of exports["."], else src/index.ts, else what exports or main name', async () => {
    await files({ 'src/index.ts': '', 'src/driver.ts': '', 'lib/main.js': '', 'dist/index.js': '' })
    expect(sourceEntry(dir, { exports: { '.': { '@smap/source': './src/driver.ts', default: './dist/index.js' } } })).toBe(join(dir, 'src/driver.ts'))
    expect(sourceEntry(dir, { exports: { '.': { import: { source: './src/driver.ts', default: './dist/index.js' } } } })).toBe(join(dir, 'src/driver.ts'))
    expect(sourceEntry(dir, { exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } } })).toBe(join(dir, 'src/index.ts'))
    await rm(join(dir, 'src/index.ts'))
    expect(sourceEntry(dir, { exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } } })).toBe(join(dir, 'dist/index.js'))
    expect(sourceEntry(dir, { exports: './dist/index.js' })).toBe(join(dir, 'dist/index.js'))
    expect(sourceEntry(dir, { main: 'lib/main.js' })).toBe(join(dir, 'lib/main.js'))
    expect(sourceEntry(dir, {})).toBe(undefined)
  })

  it('plans a package, a module with #Export and a config, each with what to watch', async () => {
    await files({ 'package.json': JSON.stringify({ name: 'smap-driver-x', main: 'src/index.js' }), 'src/index.js': '', 'src/other.js': '', 'conf.ini': '' })
    const pkg = planDev(dir, base)
    expect(pkg.spec).toMatchObject({ driver: join(dir, 'src/index.js'), label: 'smap-driver-x' })
    expect(pkg.dirs).toEqual([join(dir, 'src')])
    const mod = planDev(`${join(dir, 'src/other.js')}#Meter`, base)
    expect(mod.spec).toMatchObject({ driver: `${join(dir, 'src/other.js')}#Meter` })
    expect(mod.files).toEqual([join(dir, 'src/other.js')])
    const conf = planDev(join(dir, 'conf.ini'), base)
    expect(conf.spec).toMatchObject({ config: join(dir, 'conf.ini'), pkg: { name: 'smap-driver-x', entry: join(dir, 'src/index.js') } })
    expect(conf.spec.driver).toBe(undefined)
    expect([conf.dirs, conf.files]).toEqual([[join(dir, 'src')], [join(dir, 'conf.ini')]])
  })

  it('says in one line what is wrong with how it was called', async () => {
    await files({ 'conf.ini': '', 'src/index.ts': '' })
    expect(() => planDev(join(dir, 'nope.ini'), base)).toThrow(`no such file or folder: ${join(dir, 'nope.ini')}`)
    expect(() => planDev(join(dir, 'conf.ini'), { ...base, opts: { Rate: '1' } })).toThrow('--opt sets an option of the package\'s driver; a config sets them in its sections')
    expect(() => planDev(dir, base)).toThrow(`no package.json in ${dir} or above`)
    await files({ 'package.json': '{"name":"x"}' })
    await rm(join(dir, 'src'), { recursive: true })
    expect(() => planDev(dir, base)).toThrow(`${join(dir, 'package.json')} names no entry: add src/index.ts`)
  })

  it('prints one line per reading, with colour only when asked', () => {
    const lines: string[] = []
    const now = new Date(2024, 0, 31, 14, 3, 7, 120).getTime()
    const out = devOutput({ color: false, out: (l) => lines.push(l), err: (l) => lines.push(`! ${l}`), now: () => now })
    out.reading('/meter/power', 460.5, 'W', now)
    out.reading('/name', 'a "b"', 'text', now - 86_400_000)
    out.state('/meter', 'running')
    out.error('driver /meter: failed in setup', new Error('no meter'))
    expect(lines.slice(0, 4)).toEqual([
      '14:03:07.120  /meter/power  460.5 W',
      '2024-01-30 14:03:07.120  /name  "a \\"b\\"" text',
      '14:03:07.120  /meter  state running',
      '! 14:03:07.120  error driver /meter: failed in setup',
    ])
    expect(lines[4]).toMatch(/^! {3}Error: no meter\n {2}at .*dev\.test\.ts:\d+:\d+/)

    const coloured: string[] = []
    const quiet = devOutput({ color: true, quiet: true, out: (l) => coloured.push(l), now: () => now })
    quiet.reading('/meter/power', 1, 'W', now)
    quiet.state('/meter', 'failed')
    expect(coloured).toEqual(['\x1b[2m14:03:07.120\x1b[22m  \x1b[36m/meter\x1b[39m  state \x1b[31mfailed\x1b[39m'])
    expect(formatTime(now, now)).toBe('14:03:07.120')
    expect([wantsColor({ isTTY: true }, {}), wantsColor({ isTTY: true }, { NO_COLOR: '1' }), wantsColor({ isTTY: false }, {}), wantsColor({ isTTY: true }, { NO_COLOR: '' })]).toEqual([true, false, false, true])
  })

  it('leaves out what no author edits', () => {
    expect(['index.ts', 'meters/a.ts', 'map.csv'].map(isWatchedChange)).toEqual([true, true, true])
    expect(['node_modules/x/a.js', '.smap/state.json', '.index.ts.swp', 'index.ts~', '4913', 'dist/index.js', '.#index.ts'].map(isWatchedChange)).toEqual([false, false, false, false, false, false, false])
  })

  it('sees every save of a file, also when an editor renames a new file over it, and new folders', async () => {
    await files({ 'src/index.ts': '1', 'conf.ini': '' })
    const seen: string[] = []
    const watcher = new DevWatcher((f) => seen.push(f), (err) => {
      throw err
    })
    watcher.addDir(join(dir, 'src'))
    expect(watcher.addFile(join(dir, 'conf.ini'))).toBe(true)
    expect(watcher.addFile(join(dir, 'src/index.ts'))).toBe(false)
    const until = async (path: string): Promise<void> => {
      for (let i = 0; i < 100 && !seen.includes(path); i++) await new Promise((r) => setTimeout(r, 20))
      expect(seen).toContain(path)
      seen.length = 0
    }
    try {
      for (const text of ['2', '3']) {
        await writeFile(join(dir, 'src/.index.ts.tmp'), text)
        await rename(join(dir, 'src/.index.ts.tmp'), join(dir, 'src/index.ts'))
        await until(join(dir, 'src/index.ts'))
      }
      await writeFile(join(dir, 'conf.ini'), 'x')
      await until(join(dir, 'conf.ini'))
      await mkdir(join(dir, 'src/meters'))
      await until(join(dir, 'src/meters'))
      await new Promise((r) => setTimeout(r, 100))
      await writeFile(join(dir, 'src/meters/a.ts'), 'a')
      await until(join(dir, 'src/meters/a.ts'))
      await writeFile(join(dir, 'other.txt'), 'not watched')
      await new Promise((r) => setTimeout(r, 200))
      expect(seen).toEqual([])
    } finally {
      watcher.close()
    }
  })
})
