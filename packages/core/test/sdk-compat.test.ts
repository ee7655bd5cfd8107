import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SDK_VERSION } from '@smap/sdk'
import { load, promisedRange, resolveDriver, sdkCompatibility, type Logger } from '@smap/core'
import { writeDriverPackage } from './_driver-package.js'

// The compatibility promise: within a contract line (all of 0.x, then each
// major) a driver built for an older SDK loads under a newer one.

describe('the compatibility promise', () => {
  it('a range that includes the running SDK', () => {
    expect(sdkCompatibility('>=0.1.0 <1.0.0', '0.2.3')).toEqual({ ok: true, kind: 'in-range' })
    expect(sdkCompatibility('^1.2.0', '1.4.0')).toEqual({ ok: true, kind: 'in-range' })
  })

  it('an older SDK of the same line is covered even when the range leaves the running one out', () => {
    // the first scaffold wrote ^0.1.0, which npm reads as <0.2.0
    expect(sdkCompatibility('^0.1.0', '0.2.0')).toEqual({ ok: true, kind: 'promised', builtFor: '0.1.0' })
    expect(sdkCompatibility('~1.1.0', '1.5.0')).toEqual({ ok: true, kind: 'promised', builtFor: '1.1.0' })
  })

  it('a driver that needs a newer SDK', () => {
    expect(sdkCompatibility('>=0.3.0 <1.0.0', '0.2.0')).toEqual({ ok: false, kind: 'needs-newer', needs: '>=0.3.0' })
    expect(sdkCompatibility('^2.0.0', '1.9.0')).toEqual({ ok: false, kind: 'needs-newer', needs: '>=2.0.0' })
  })

  it('a driver of an older line', () => {
    expect(sdkCompatibility('>=0.4.0 <1.0.0', '1.0.0')).toEqual({ ok: false, kind: 'other-line', builtFor: '0.4.0' })
    expect(sdkCompatibility('^1.3.0', '2.1.0')).toEqual({ ok: false, kind: 'other-line', builtFor: '1.3.0' })
  })

  it('nothing to check without a semver range', () => {
    expect(sdkCompatibility(undefined, '0.1.0').kind).toBe('unchecked')
    expect(sdkCompatibility('workspace:^', '0.1.0').kind).toBe('unchecked')
  })

  it('the range a driver built today declares', () => {
    expect(promisedRange('0.1.0')).toBe('>=0.1.0 <1.0.0')
    expect(promisedRange('0.7.2')).toBe('>=0.7.0 <1.0.0')
    expect(promisedRange('1.4.2')).toBe('^1.4.0')
    // every release of its line satisfies it, the next line does not
    expect(sdkCompatibility(promisedRange('0.1.0'), '0.9.0').kind).toBe('in-range')
    expect(sdkCompatibility(promisedRange('1.4.2'), '2.0.0').ok).toBe(false)
  })
})

const METER = `import { z } from 'zod'
export default ({
  name: 'meter',
  options: z.object({}),
  setup(ctx) { ctx.addTimeseries('/power', { key: 'power', unit: 'kW' }) },
})
`

describe('the host applies the promise and finds drivers', () => {
  let site: string
  beforeEach(async () => {
    site = await mkdtemp(join(tmpdir(), 'smap-compat-'))
  })
  afterEach(async () => {
    await rm(site, { recursive: true, force: true })
  })

  it('loads a driver whose narrow range names an older SDK of this line, and says why', async () => {
    const [major, minor] = SDK_VERSION.split('.').map(Number) as [number, number]
    // a range that excludes the running SDK but starts below it, in the same line
    const older = major === 0 ? (minor > 0 ? `~0.${minor - 1}.0` : '~0.0.1') : `~${major}.0.0-0 <${major}.0.0`
    await writeDriverPackage(join(site, 'node_modules', 'smap-driver-old'), { name: 'smap-driver-old', peerDependencies: { '@smap/sdk': older } }, { 'index.js': METER })
    const resolved = await resolveDriver('smap-driver-old', site, { globalRoots: [] })
    expect(resolved.definition.name).toBe('meter')
    expect(resolved.notes?.[0]).toMatch(new RegExp(`declares @smap/sdk ${older.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, which leaves out this smap's ${SDK_VERSION}; it loads`))

    // and a config that names it warns with the place
    await writeFile(join(site, 'conf.ini'), `[/]\nuuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92\n\n[/old]\ntype = smap-driver-old\n`)
    const warnings: string[] = []
    const logger: Logger = { info: () => {}, warn: (m) => warnings.push(m), error: () => {} }
    const inst = await load(join(site, 'conf.ini'), { logger, server: { dataDir: join(site, 'data') } })
    await inst.stop()
    expect(warnings.some((w) => w.startsWith(`${join(site, 'conf.ini')}:5 [/old] type: driver "smap-driver-old" declares`))).toBe(true)
  })

  it('finds a driver among the global packages when the config folder has none', async () => {
    const global = join(site, 'prefix', 'lib', 'node_modules')
    await writeDriverPackage(join(global, '@acme', 'smap-driver-meter'), { name: '@acme/smap-driver-meter', peerDependencies: { '@smap/sdk': promisedRange(SDK_VERSION) } }, { 'index.js': METER })
    const empty = join(site, 'empty')
    await mkdir(empty)
    const resolved = await resolveDriver('@acme/smap-driver-meter', empty, { globalRoots: [join(site, 'nowhere'), global] })
    expect(resolved.module?.url).toContain('/prefix/lib/node_modules/@acme/smap-driver-meter/index.js')
    await expect(resolveDriver('@acme/smap-driver-other', empty, { globalRoots: [global] })).rejects.toThrow(
      `driver package "@acme/smap-driver-other" is not installed: run \`npm install @acme/smap-driver-other\` in ${empty}`,
    )
  })

  it('notes a second SDK installed for the driver', async () => {
    const dir = join(site, 'node_modules', 'smap-driver-own')
    const meter = `import '@smap/sdk/package.json' with { type: 'json' }\n${METER}`
    await writeDriverPackage(dir, { name: 'smap-driver-own', peerDependencies: { '@smap/sdk': promisedRange(SDK_VERSION) } }, { 'index.js': meter })
    const own = join(dir, 'node_modules', '@smap', 'sdk')
    await mkdir(own, { recursive: true })
    await writeFile(join(own, 'package.json'), JSON.stringify({ name: '@smap/sdk', version: '0.0.9', type: 'module', exports: { './package.json': './package.json' } }))
    const resolved = await resolveDriver('smap-driver-own', site, { globalRoots: [] })
    expect(resolved.notes).toEqual([`driver "smap-driver-own" has its own @smap/sdk 0.0.9 at ${own}, beside this smap's ${SDK_VERSION}: it works, but \`npm dedupe\` in ${site} leaves one`])
  })
})
