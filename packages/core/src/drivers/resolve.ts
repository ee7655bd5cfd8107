import { readFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve as resolvePath } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { resolve as resolveImport } from 'import-meta-resolve'
import semver from 'semver'
import { SDK_VERSION, type DriverDefinition } from '@smap/sdk'
import { smapError } from '../errors.js'
import { parseDriverDefinition } from './definition.js'
import { baseDriver } from './base-driver.js'
import type { DriverModule } from './isolate.js'

/** A driver found and checked, ready to attach. */
export interface ResolvedDriver {
  /** The reference as the config wrote it, e.g. `smap-driver-x#Meter`. */
  ref: string
  definition: DriverDefinition
  /** The module and export it came from (none for the built-in driver), for `Isolation = worker`. */
  module?: DriverModule
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
 * module path, resolved from `fromDir` the way Node resolves imports.
 */
export async function resolveDriver(ref: string, fromDir: string): Promise<ResolvedDriver> {
  const classic = CLASSIC[ref]
  if (classic === BUILTIN) return { ref, definition: baseDriver as unknown as DriverDefinition }
  const target = classic ?? ref
  const hash = target.indexOf('#')
  const spec = hash === -1 ? target : target.slice(0, hash)
  const exportName = hash === -1 ? 'default' : target.slice(hash + 1)
  const via = classic ? `"${ref}" is provided by ${spec}, which` : undefined
  if (exportName === '') throw smapError('SMAP_DRIVER_REF', `driver reference "${ref}" ends with "#": name the export after it, e.g. ${spec}#MyDriver`)

  let url: string
  let packageName: string | undefined
  if (isRelativeSpec(spec)) {
    const file = resolvePath(fromDir, spec)
    if (!existsSync(file)) throw smapError('SMAP_DRIVER_NOT_FOUND', `no driver module at ${file} (the path "${spec}" is relative to ${fromDir})`)
    url = pathToFileURL(file).href
  } else {
    if (!PACKAGE_NAME.test(spec)) {
      throw smapError('SMAP_DRIVER_REF', `"${ref}" is not a driver reference: expected an npm package name (smap-driver-x, @scope/pkg), optionally with #Export, or a relative path (./my-driver.js)`)
    }
    packageName = spec
    try {
      url = resolveImport(spec, pathToFileURL(join(fromDir, 'smap.config')).href)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ERR_MODULE_NOT_FOUND') {
        throw smapError(
          'SMAP_DRIVER_NOT_INSTALLED',
          `${via ?? `driver package "${spec}"`} is not installed: run \`npm install ${spec}\` in ${fromDir}`,
          { cause: err },
        )
      }
      throw smapError('SMAP_DRIVER_NOT_FOUND', `cannot resolve driver package "${spec}" from ${fromDir}: ${(err as Error).message}`, { cause: err })
    }
  }

  let mod: Record<string, unknown>
  try {
    mod = (await import(url)) as Record<string, unknown>
  } catch (err) {
    const typescript = (err as NodeJS.ErrnoException).code === 'ERR_UNKNOWN_FILE_EXTENSION' && /\.[cm]?tsx?$/.test(fileURLToPath(url))
    // Node runs JavaScript: a driver's TypeScript source is built first, or loaded through a TypeScript loader
    const hint = typescript ? ': Node runs JavaScript, so build the driver first (npm run build) and name its dist/index.js, or run smap through a TypeScript loader (npx tsx node_modules/.bin/smap ...)' : ''
    throw smapError('SMAP_DRIVER_IMPORT', `driver "${spec}" failed to load: ${(err as Error).message}${hint}`, { cause: err })
  }
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
  const file = fileURLToPath(url)
  await checkSdkRange(file, packageName, spec)
  return { ref, definition, module: { url, exportName } }
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

/** Refuses a driver whose declared @smap/sdk range does not include the running SDK. */
async function checkSdkRange(file: string, packageName: string | undefined, spec: string): Promise<void> {
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
        if (range !== undefined && !range.startsWith('workspace:') && semver.validRange(range) && !semver.satisfies(SDK_VERSION, range, { includePrerelease: true })) {
          throw smapError(
            'SMAP_DRIVER_SDK_MISMATCH',
            `driver "${spec}" is built for @smap/sdk ${range}, but this smap runs @smap/sdk ${SDK_VERSION}; install a release of ${pkg.name ?? spec} made for @smap/sdk ${SDK_VERSION}, or a smap whose SDK matches`,
          )
        }
        return
      }
    }
    if (dirname(dir) === dir) return
  }
}
