import { existsSync, statSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join, posix, relative, resolve } from 'node:path'
import { describeDriver, driverExports, judgeSdkRange, resolveDriver, SmapError } from '@smap/core'
import type { DriverDefinition } from '@smap/sdk'
import { defineCommand } from 'citty'
import { UsageError } from './commands.js'

/** One line of the scorecard. */
export interface DriverCheck {
  /** `fail`: users of the published package would meet a problem; `warn`: worth fixing before publishing. */
  level: 'pass' | 'warn' | 'fail'
  /** What was checked, e.g. `keyword`. */
  name: string
  /** What was found, and for a warning or failure what to change. */
  message: string
}

interface Manifest {
  name?: string
  type?: string
  license?: string
  keywords?: unknown
  files?: unknown
  exports?: unknown
  publishConfig?: { exports?: unknown }
  engines?: { node?: string }
  scripts?: Record<string, string>
  peerDependencies?: Record<string, string>
  dependencies?: Record<string, string>
}

// conditions Node and TypeScript pick by themselves; any other is opted into by the importer
const STANDARD_CONDITIONS = new Set(['types', 'import', 'require', 'default', 'node', 'module-sync', 'node-addons'])
const NPM_NO_TEST = 'echo "Error: no test specified" && exit 1'

/** Every `[conditions, target]` under one subpath's exports value. */
function leaves(value: unknown, conditions: string[] = []): Array<[string[], string]> {
  if (typeof value === 'string') return [[conditions, value]]
  if (Array.isArray(value)) return value.flatMap((v) => leaves(v, conditions))
  if (typeof value === 'object' && value !== null) return Object.entries(value).flatMap(([k, v]) => leaves(v, [...conditions, k]))
  return []
}

/** The exports map as subpath → value (`"exports": "./x.js"` and a bare conditions object mean `"."`). */
function subpaths(exports: unknown): Record<string, unknown> {
  if (typeof exports === 'object' && exports !== null && !Array.isArray(exports) && Object.keys(exports).some((k) => k.startsWith('.'))) return exports as Record<string, unknown>
  return { '.': exports }
}

/** Whether npm packs `file` (relative, posix) given `files`. */
function packed(file: string, files: string[]): boolean {
  if (/^(package\.json|readme(\..*)?|licen[cs]e(\..*)?)$/i.test(file)) return true
  return files.some((entry) => {
    const e = posix.normalize(entry.replace(/^\.\//, '')).replace(/\/(\*\*?)?$/, '')
    if (!/[*?[]/.test(e)) return file === e || file.startsWith(`${e}/`)
    const pattern = e
      .split('**')
      .map((part) => part.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))
      .join('.*')
    return new RegExp(`^${pattern}(/.*)?$`).test(file)
  })
}

async function testFiles(dir: string, depth = 0): Promise<string[]> {
  if (depth > 4) return []
  const found: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist' || entry.name.startsWith('.')) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) found.push(...(await testFiles(path, depth + 1)))
    else if (/\.(test|spec)\.[cm]?[jt]sx?$/.test(entry.name)) found.push(path)
  }
  return found
}

/** The checks about package.json alone. */
function manifestChecks(pkg: Manifest, checks: DriverCheck[], dir: string): void {
  const add = (level: DriverCheck['level'], name: string, message: string): void => void checks.push({ level, name, message })
  const keywords = Array.isArray(pkg.keywords) ? (pkg.keywords as unknown[]) : []
  if (keywords.includes('smap-driver')) add('pass', 'keyword', '"smap-driver" is in keywords')
  else add('fail', 'keyword', 'add "smap-driver" to "keywords" in package.json, so `smap drivers --search` and npm searches find the driver')

  const licenseFile = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'LICENCE', 'LICENCE.md'].find((f) => existsSync(join(dir, f)))
  if (typeof pkg.license !== 'string' || pkg.license.trim() === '') add('fail', 'license', 'package.json has no "license": add one, e.g. "license": "MIT", and its text in a LICENSE file')
  else if (licenseFile === undefined) add('warn', 'license', `"license" is ${pkg.license} but there is no LICENSE file: add one with the license's text (most licenses require shipping it)`)
  else add('pass', 'license', `${pkg.license}, text in ${licenseFile}`)

  const peer = pkg.peerDependencies?.['@smap/sdk']
  const judged = judgeSdkRange(peer ?? '')
  if (peer === undefined) {
    const also = pkg.dependencies?.['@smap/sdk'] !== undefined ? ' and remove it from "dependencies" (a site would get a second SDK)' : ''
    add('fail', 'sdk range', `@smap/sdk is not a peer dependency: add "peerDependencies": { "@smap/sdk": "${judged.promised}" }${also}`)
  } else if (pkg.dependencies?.['@smap/sdk'] !== undefined) {
    add('fail', 'sdk range', 'remove @smap/sdk from "dependencies" and keep it in "peerDependencies": a site would get a second SDK beside its smap\'s')
  } else if (judged.verdict === 'invalid') {
    add('fail', 'sdk range', `peer range "${peer}" for @smap/sdk is not a semver range: write "${judged.promised}"`)
  } else if (judged.verdict === 'excludes') {
    add('fail', 'sdk range', `peer range "${peer}" excludes @smap/sdk ${sdkVersionText(judged.promised)}, which this smap runs, so hosts refuse the driver: write "${judged.promised}"`)
  } else if (judged.verdict === 'narrow') {
    add('warn', 'sdk range', `peer range "${peer}" shuts out later @smap/sdk releases the compatibility promise says the driver works with: write "${judged.promised}"`)
  } else add('pass', 'sdk range', `@smap/sdk ${peer}`)

  if (pkg.type === 'module') add('pass', 'type', '"type": "module"')
  else add('fail', 'type', 'add "type": "module" to package.json: smap loads drivers as ES modules')

  if (typeof pkg.engines?.node === 'string') add('pass', 'engines', `node ${pkg.engines.node}`)
  else add('warn', 'engines', 'add "engines": { "node": ">=20.17" } (the Node versions smap runs on) to package.json')

  const test = pkg.scripts?.test
  if (test === undefined || test.trim() === NPM_NO_TEST) add('warn', 'test script', 'add a "test" script to package.json, e.g. "test": "vitest run"')
  else add('pass', 'test script', test)
}

function sdkVersionText(promised: string): string {
  return /(\d+\.\d+)\.0/.exec(promised)?.[1] ?? promised
}

/** Exports, types and files: what a site imports, and whether the tarball has it. */
function exportChecks(pkg: Manifest, checks: DriverCheck[], dir: string): string | undefined {
  const add = (level: DriverCheck['level'], name: string, message: string): void => void checks.push({ level, name, message })
  const files = Array.isArray(pkg.files) ? (pkg.files as unknown[]).filter((f): f is string => typeof f === 'string') : undefined
  const published = pkg.publishConfig?.exports ?? pkg.exports
  const via = pkg.publishConfig?.exports !== undefined ? 'publishConfig.exports' : 'exports'
  if (files === undefined) add('fail', 'files', 'package.json has no "files": npm would pack everything (sources, tests); add "files": ["dist"]')
  else if (files.some((f) => packed('dist/index.js', [f]))) add('pass', 'files', `files: ${files.join(', ')}`)
  else add('fail', 'files', `"files" (${files.join(', ')}) leaves out dist: add "dist"`)

  if (published === undefined) {
    add('fail', 'exports', 'package.json has no "exports": add { ".": { "types": "./dist/index.d.ts", "default": "./dist/index.js" } }')
    return undefined
  }
  const main = leaves(subpaths(published)['.'])
  const types = main.find(([c]) => c.at(-1) === 'types')?.[1]
  const entry = main.find(([c]) => c.at(-1) === 'default' || c.at(-1) === 'import')?.[1]
  if (entry === undefined) add('fail', 'exports', `${via}["."] has no "default" condition: add "default": "./dist/index.js"`)
  else add('pass', 'exports', `${via}["."] → ${entry}`)

  const all = Object.entries(subpaths(published)).flatMap(([sub, value]) => leaves(value).map(([c, target]): [string, string[], string] => [sub, c, target]))
  const missing = new Set<string>()
  const outside: string[] = []
  const custom: string[] = []
  for (const [sub, conditions, target] of all) {
    if (target.includes('*')) continue
    const file = posix.normalize(target.replace(/^\.\//, ''))
    if (!existsSync(join(dir, file))) missing.add(target)
    if (files !== undefined && !packed(file, files)) {
      const where = `${sub} ${conditions.join('.') || '(no condition)'} → ${target}`
      if (conditions.every((c) => STANDARD_CONDITIONS.has(c))) outside.push(where)
      else custom.push(where)
    }
  }
  if (outside.length > 0) add('fail', 'exports in files', `${outside.join(', ')}: not in "files", so no tarball has it; add its folder to "files" or point the export into dist`)
  else if (custom.length > 0) add('warn', 'exports in files', `${custom.join(', ')}: not in "files", so the published package names a file it does not have; leave the condition out of what you publish (publishConfig.exports)`)
  else add('pass', 'exports in files', `every target of ${via} is in "files"`)
  const build = pkg.scripts?.build !== undefined ? 'npm run build' : 'build the package'
  if (missing.size > 0) add('fail', 'built', `${[...missing].join(', ')} ${missing.size === 1 ? 'does' : 'do'} not exist: ${build}, then check again`)
  else add('pass', 'built', 'every export target exists')

  if (types === undefined) add('fail', 'types', `${via}["."] has no "types" condition: add "types": "./dist/index.d.ts" (and build declarations, e.g. tsup's dts: true) before "default"`)
  else if (missing.has(types)) add('fail', 'types', `${types} does not exist: ${build} with declarations (e.g. tsup's dts: true)`)
  else add('pass', 'types', types)
  return entry !== undefined && !missing.has(entry) ? join(dir, entry) : undefined
}

/** Imports the built entry, finds its drivers, resolves the package as a site would, and checks option descriptions. */
async function driverChecks(pkg: Manifest, entry: string | undefined, checks: DriverCheck[], dir: string): Promise<void> {
  const add = (level: DriverCheck['level'], name: string, message: string): void => void checks.push({ level, name, message })
  if (entry === undefined) {
    add('fail', 'driver', 'not loaded: its entry is not built (see above)')
    return
  }
  let exported: Record<string, DriverDefinition>
  try {
    exported = await driverExports(entry, dir, { globalRoots: [] })
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error) : (err as Error)
    add('fail', 'driver', `${relative(dir, entry)} failed to load: ${cause.message}`)
    return
  }
  // one entry per driver (the default export is often also exported by name), the default first
  const drivers = new Map<string, DriverDefinition>()
  for (const [key, definition] of Object.entries(exported)) if (![...drivers.values()].includes(definition)) drivers.set(key, definition)
  if (drivers.size === 0) {
    add('fail', 'driver', `${relative(dir, entry)} exports no driver made with defineDriver from @smap/sdk: export one (export default defineDriver({...}))`)
    return
  }
  const names = [...drivers.keys()].map((k) => (k === 'default' ? pkg.name : `${pkg.name}#${k}`))
  const ref = names[0] as string
  try {
    await resolveDriver(ref, dir)
    add('pass', 'driver', `loads; a config names it type = ${names.join(', or ')}`)
  } catch (err) {
    add('fail', 'driver', err instanceof SmapError ? err.message : `${ref} failed to load: ${(err as Error).message}`)
  }
  const undescribed: string[] = []
  let count = 0
  for (const [key, definition] of drivers) {
    try {
      const options = describeDriver(definition, { type: key }).options
      count += options.length
      undescribed.push(...options.filter((o) => o.description === undefined || o.description.trim() === '').map((o) => (key === 'default' ? o.key : `${key}.${o.key}`)))
    } catch (err) {
      add('fail', 'options', `${err instanceof SmapError ? err.message : String(err)}`)
      return
    }
  }
  if (undescribed.length > 0) add('fail', 'options', `no description for ${undescribed.join(', ')}: add .describe('what it is, in its unit') to each, so \`smap describe\` can document it`)
  else add('pass', 'options', count === 0 ? 'takes no options' : `all ${count} options described`)
}

/** The README: present, with a config section a site can copy. */
async function readmeCheck(pkg: Manifest, checks: DriverCheck[], dir: string): Promise<void> {
  const file = (await readdir(dir)).find((f) => /^readme(\.md|\.markdown)?$/i.test(f))
  const example = `a \`\`\`ini block with [/meter] and type = ${pkg.name ?? 'the-package'} (smap describe prints one)`
  if (file === undefined) {
    checks.push({ level: 'warn', name: 'readme', message: `no README.md: add one with what the driver reads and ${example}` })
    return
  }
  const text = await readFile(join(dir, file), 'utf8')
  const name = (pkg.name ?? '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const iniBlock = [...text.matchAll(/```ini\s*\n([\s\S]*?)```/g)].some((m) => new RegExp(`^\\s*type\\s*=\\s*${name}(#\\w+)?\\s*$`, 'm').test(m[1] as string))
  const heading = /^#{1,6}\s.*\b(config|configuration|configuring)\b/im.test(text)
  if (iniBlock) checks.push({ level: 'pass', name: 'readme', message: `${file} shows a config section (type = ${pkg.name})` })
  else if (heading) checks.push({ level: 'pass', name: 'readme', message: `${file} has a config heading` })
  else checks.push({ level: 'warn', name: 'readme', message: `${file} has no config section: add ${example}` })
}

/**
 * Scores a driver package before it is published: keyword, license, SDK
 * peer range, exports, types, tests, whether it loads as a driver, option
 * descriptions and README. `dir` is the package's folder.
 */
export async function checkDriverPackage(dir: string): Promise<DriverCheck[]> {
  const manifestFile = join(dir, 'package.json')
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${dir} is not a directory: name the driver package's folder, e.g. smap check-driver .`)
  if (!existsSync(manifestFile)) throw new UsageError(`no package.json in ${dir}: run smap check-driver in (or on) a driver package's folder`)
  let pkg: Manifest
  try {
    pkg = JSON.parse(await readFile(manifestFile, 'utf8')) as Manifest
  } catch (err) {
    throw new UsageError(`${manifestFile} is not valid JSON: ${(err as Error).message}`)
  }
  const checks: DriverCheck[] = []
  if (typeof pkg.name !== 'string' || pkg.name === '') checks.push({ level: 'fail', name: 'name', message: 'package.json has no "name": a config names the driver by it' })
  manifestChecks(pkg, checks, dir)
  const entry = exportChecks(pkg, checks, dir)
  if (typeof pkg.name === 'string' && pkg.name !== '') await driverChecks(pkg, entry, checks, dir)
  const tests = await testFiles(dir)
  if (tests.length > 0) checks.push({ level: 'pass', name: 'tests', message: `${tests.length} test file${tests.length === 1 ? '' : 's'}, e.g. ${relative(dir, tests[0] as string)}` })
  else checks.push({ level: 'warn', name: 'tests', message: 'no test file (*.test.ts): test the driver with @smap/testing (createHarness) in test/driver.test.ts' })
  await readmeCheck(pkg, checks, dir)
  return checks
}

const MARK = { pass: 'pass', warn: 'warn', fail: 'FAIL' } as const

export const checkDriverCommand = defineCommand({
  meta: { name: 'check-driver', description: 'Score a driver package before publishing: keyword, license, SDK range, exports, types, tests, options, README' },
  args: {
    dir: { type: 'positional', description: "the driver package's folder (default: the current one)", required: false },
  },
  async run({ args }) {
    const dir = resolve(args.dir ?? '.')
    const checks = await checkDriverPackage(dir)
    const width = Math.max(...checks.map((c) => c.name.length))
    for (const c of checks) process.stdout.write(`${MARK[c.level]}  ${c.name.padEnd(width)}  ${c.message}\n`)
    const count = (level: DriverCheck['level']): number => checks.filter((c) => c.level === level).length
    const [failed, warned] = [count('fail'), count('warn')]
    process.stdout.write(`${failed === 0 ? 'ready to publish' : 'not ready to publish'}: ${count('pass')} passed, ${warned} warning${warned === 1 ? '' : 's'}, ${failed} failed\n`)
    if (failed > 0) throw new SmapError('SMAP_CHECK_FAILED', `${failed} check${failed === 1 ? '' : 's'} failed: fix the FAIL line${failed === 1 ? '' : 's'} above, then run smap check-driver again`)
  },
})
