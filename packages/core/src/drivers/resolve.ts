import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve as resolvePath, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { resolve as resolveImport } from 'import-meta-resolve'
import { SDK_VERSION, type DriverDefinition } from '@smap/sdk'
import { smapError } from '../errors.js'
import { parseDriverDefinition } from './definition.js'
import { contractLine, describeMismatch, sdkCompatibility } from './sdk-compat.js'
import { baseDriver } from './base-driver.js'
import type { DriverModule } from './isolate.js'

/** A driver found and checked, ready to attach. */
export interface ResolvedDriver {
  /** The reference as the config wrote it, e.g. `smap-driver-x#Meter`. */
  ref: string
  definition: DriverDefinition
  /** The module and export it came from (none for the built-in driver), for `Isolation = worker`. */
  module?: DriverModule
  /** What the host noticed and a user may want to know (the promise covering a narrow SDK range, a second SDK). */
  notes?: string[]
}

/** Options of `resolveDriver`. */
export interface ResolveOptions {
  /** Folders of global packages to look in after `fromDir`; default {@link globalPackageRoots}. */
  globalRoots?: readonly string[]
}

const BUILTIN = Symbol('builtin')

/** Names from the original Python library, so old configs and the tutorial run verbatim. */
const CLASSIC: Record<string, string | typeof BUILTIN> = {
  'smap.driver.BaseDriver': BUILTIN,
  'smap.drivers.caiso.CaIsoDriver': '@smap/driver-caiso',
  'smap.drivers.dent.Dent18': '@smap/driver-dent#PowerScout18',
  'smap.drivers.dent.Dent3': '@smap/driver-dent#PowerScout3',
}

const PACKAGE_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/

/** Whether a `type` value refers to a driver rather than Collection/Timeseries. */
export function isDriverReference(type: string): boolean {
  const spec = (CLASSIC[type] === BUILTIN ? type : ((CLASSIC[type] as string | undefined) ?? type)).split('#')[0] as string
  return type in CLASSIC || isRelativeSpec(spec) || (PACKAGE_NAME.test(spec) && spec.toLowerCase() !== 'collection' && spec.toLowerCase() !== 'timeseries')
}

function isRelativeSpec(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || isAbsolute(spec)
}

/**
 * Finds, imports and checks the driver a config names: an npm package
 * (`smap-driver-x`, `@scope/pkg`), optionally `#ExportName`, or a relative
 * module path, resolved from `fromDir` the way Node resolves imports, then
 * beside smap itself, then among the global packages (`npm root -g`), so a
 * driver installed globally beside a global `smap` is found.
 */
export async function resolveDriver(ref: string, fromDir: string, options: ResolveOptions = {}): Promise<ResolvedDriver> {
  const classic = CLASSIC[ref]
  if (classic === BUILTIN) return { ref, definition: baseDriver as unknown as DriverDefinition }
  const target = classic ?? ref
  const hash = target.indexOf('#')
  const spec = hash === -1 ? target : target.slice(0, hash)
  const exportName = hash === -1 ? 'default' : target.slice(hash + 1)
  const via = classic ? `"${ref}" is provided by ${spec}, which` : undefined
  if (exportName === '') throw smapError('SMAP_DRIVER_REF', `driver reference "${ref}" ends with "#": name the export after it, e.g. ${spec}#MyDriver`)

  const url = locate(ref, spec, fromDir, via, options)
  const mod = await importModule(url, spec)
  if (!(exportName in mod) || mod[exportName] === undefined) {
    // only exports that are driver definitions are worth naming (not an error class, a helper, a constant)
    const names = Object.keys(mod).filter((k) => mod[k] !== undefined && isDefinition(mod[k]))
    const others = Object.keys(mod).filter((k) => mod[k] !== undefined && !names.includes(k))
    throw smapError(
      'SMAP_DRIVER_NO_EXPORT',
      `driver "${spec}" has no ${exportName === 'default' ? 'default export' : `export named ${exportName}`}; ${names.length > 0 ? `its drivers are ${names.join(', ')}: pick one with ${spec}#${names.find((n) => n !== 'default') ?? names[0]}` : others.length > 0 ? `none of its exports (${others.join(', ')}) is a driver made with defineDriver` : 'it exports nothing'}`,
    )
  }
  const label = hash === -1 ? `driver "${spec}"` : `driver "${spec}#${exportName}"`
  const definition = parseDriverDefinition(mod[exportName], label)
  const notes = await checkSdk(fileURLToPath(url), isRelativeSpec(spec) ? undefined : spec, spec, fromDir, url)
  return { ref, definition, module: { url, exportName }, ...(notes.length > 0 ? { notes } : {}) }
}

/**
 * The drivers a package (or module) exports, by export name, for listing
 * what is installed; the package is found as `resolveDriver` finds it.
 */
export async function driverExports(spec: string, fromDir: string, options: ResolveOptions = {}): Promise<Record<string, DriverDefinition>> {
  const mod = await importModule(locate(spec, spec, fromDir, undefined, options), spec)
  const out: Record<string, DriverDefinition> = {}
  // the default export first: it is the one a config gets by naming the package alone
  for (const [name, value] of Object.entries(mod).sort(([a], [b]) => Number(b === 'default') - Number(a === 'default'))) if (value !== undefined && isDefinition(value)) out[name] = value as DriverDefinition
  return out
}

/** The module URL a driver reference's package or path leads to. */
function locate(ref: string, spec: string, fromDir: string, via: string | undefined, options: ResolveOptions): string {
  if (isRelativeSpec(spec)) {
    const file = resolvePath(fromDir, spec)
    if (!existsSync(file)) throw smapError('SMAP_DRIVER_NOT_FOUND', `no driver module at ${file} (the path "${spec}" is relative to ${fromDir})`)
    return pathToFileURL(file).href
  }
  if (!PACKAGE_NAME.test(spec)) {
    throw smapError('SMAP_DRIVER_REF', `"${ref}" is not a driver reference: expected an npm package name (smap-driver-x, @scope/pkg), optionally with #Export, or a relative path (./my-driver.js)`)
  }
  return findPackage(spec, fromDir, via, options)
}

async function importModule(url: string, spec: string): Promise<Record<string, unknown>> {
  try {
    return (await import(url)) as Record<string, unknown>
  } catch (err) {
    const typescript = (err as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[cm]?tsx?$/.test(fileURLToPath(url))
    // Node runs JavaScript: a driver's TypeScript source is built first, or loaded through a TypeScript loader
    const hint = typescript ? ': Node runs JavaScript, so build the driver first (npm run build) and name its dist/index.js, or run smap through a TypeScript loader (npx tsx node_modules/.bin/smap ...)' : ''
    throw smapError('SMAP_DRIVER_IMPORT', `driver "${spec}" failed to load: ${(err as Error).message}${hint}`, { cause: err })
  }
}

/** Whether an export is a driver definition (what `parseDriverDefinition` accepts). */
function isDefinition(value: unknown): boolean {
  try {
    parseDriverDefinition(value, 'an export')
    return true
  } catch {
    return false
  }
}

/** Resolves a package from `fromDir`, then beside smap itself, then among the global packages. */
function findPackage(spec: string, fromDir: string, via: string | undefined, options: ResolveOptions): string {
  let first: unknown
  const bases = [pathToFileURL(join(fromDir, 'smap.config')).href, import.meta.url]
  for (const base of bases) {
    try {
      return resolveImport(spec, base)
    } catch (err) {
      first ??= err
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') break
    }
  }
  const code = (first as NodeJS.ErrnoException).code
  if (code !== 'ERR_MODULE_NOT_FOUND') {
    throw smapError('SMAP_DRIVER_NOT_FOUND', `cannot resolve driver package "${spec}" from ${fromDir}: ${(first as Error).message}`, { cause: first })
  }
  const roots = options.globalRoots ?? globalPackageRoots()
  for (const root of roots) {
    if (!existsSync(join(root, ...spec.split('/'), 'package.json'))) continue
    try {
      // a package in a global root is found from a file just inside it
      return resolveImport(spec, pathToFileURL(join(root, 'smap.config')).href)
    } catch (err) {
      throw smapError('SMAP_DRIVER_NOT_FOUND', `cannot resolve driver package "${spec}" from ${root}: ${(err as Error).message}`, { cause: err })
    }
  }
  throw smapError('SMAP_DRIVER_NOT_INSTALLED', `${via ?? `driver package "${spec}"`} is not installed: run \`npm install ${spec}\` in ${fromDir}`, { cause: first })
}

let globalRootsCache: string[] | undefined

/**
 * The folders global npm packages live in: `npm root -g` (asked once per
 * process, on the first driver not found locally), else the one beside this Node.
 */
export function globalPackageRoots(): string[] {
  if (globalRootsCache) return globalRootsCache
  const roots: string[] = []
  try {
    const out = execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['root', '-g'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    if (out !== '') roots.push(out)
  } catch {
    // no npm on the PATH: fall back to Node's own prefix
  }
  const prefix = process.platform === 'win32' ? dirname(process.execPath) : dirname(dirname(process.execPath))
  const beside = process.platform === 'win32' ? join(prefix, 'node_modules') : join(prefix, 'lib', 'node_modules')
  if (!roots.includes(beside)) roots.push(beside)
  globalRootsCache = roots
  return roots
}

/** Where smap itself is installed: the folder above its `node_modules`, and whether that is a global root. */
function smapInstall(fallback: string): { dir: string; global: boolean } {
  const self = fileURLToPath(import.meta.url)
  const at = self.lastIndexOf(`${sep}node_modules${sep}`)
  if (at === -1) return { dir: fallback, global: false } // a checkout of smap itself
  const modules = self.slice(0, at + `${sep}node_modules`.length)
  const global = globalPackageRoots().includes(modules)
  return { dir: dirname(modules), global }
}

/**
 * Checks a driver's declared @smap/sdk range against the running SDK by the
 * compatibility promise, refusing it with the command that fixes a mismatch;
 * returns notes for what loads but is worth knowing (a second SDK installed
 * for the driver, a range the promise widens).
 */
async function checkSdk(file: string, packageName: string | undefined, spec: string, fromDir: string, url: string): Promise<string[]> {
  const notes: string[] = []
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest)) {
      const pkg = JSON.parse(await readFile(manifest, 'utf8')) as {
        name?: string
        peerDependencies?: Record<string, string>
        dependencies?: Record<string, string>
      }
      if (packageName === undefined || pkg.name === packageName) {
        const range = pkg.peerDependencies?.['@smap/sdk'] ?? pkg.dependencies?.['@smap/sdk']
        const compat = sdkCompatibility(range, SDK_VERSION)
        const name = pkg.name ?? spec
        if (!compat.ok) throw smapError('SMAP_DRIVER_SDK_MISMATCH', describeMismatch(compat, name, range as string, SDK_VERSION, smapInstall(fromDir)))
        if (compat.kind === 'promised') notes.push(`driver "${name}" declares @smap/sdk ${range}, which leaves out this smap's ${SDK_VERSION}; it loads, because a driver built for ${compat.builtFor} works with every later ${contractLine(SDK_VERSION)}.x SDK`)
        break
      }
    }
    if (dirname(dir) === dir) break
  }
  const second = otherSdk(url)
  if (second !== undefined) notes.push(`driver "${spec}" has its own @smap/sdk ${second.version} at ${second.dir}, beside this smap's ${SDK_VERSION}: it works, but \`npm dedupe\` in ${fromDir} leaves one`)
  return notes
}

/** The @smap/sdk a driver's own imports reach, when it is not the one this host runs. */
function otherSdk(driverUrl: string): { version: string; dir: string } | undefined {
  let theirs: string
  let ours: string
  try {
    theirs = realpathSync(fileURLToPath(resolveImport('@smap/sdk/package.json', driverUrl)))
    ours = realpathSync(fileURLToPath(resolveImport('@smap/sdk/package.json', import.meta.url)))
  } catch {
    return undefined // a driver that does not reach an SDK (it builds its schemas with zod alone)
  }
  if (theirs === ours) return undefined
  const { version } = JSON.parse(readFileSync(theirs, 'utf8')) as { version: string }
  return { version, dir: dirname(theirs) }
}
