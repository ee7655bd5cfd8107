import { randomUUID } from 'node:crypto'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import { checkLicense, holder, licenseText, type LicenseId } from './_licenses.js'
import { checkDriverName, checkLine, checkPackageName, PACKAGE_PREFIX } from './_names.js'
import { repositoryFields } from './_repository.js'
import { copyTemplate } from './_template.js'
import { BUILT_WITH, lineRange } from './_versions.js'
import { v5 as uuidv5 } from 'uuid'
import { CreateError } from './errors.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Options of `createDriverPackage`. */
export interface CreateDriverOptions {
  /** The driver's name, e.g. `my-meter`: names the directory and, by default, the package. */
  name: string
  /** Where to write; default `<cwd>/<name>`. */
  directory?: string
  /** Default `smap-driver-<name>`. */
  packageName?: string
  /** One line; default `sMAP driver for <name>`. */
  description?: string
  author?: string
  /** An SPDX id: MIT (the default), ISC, BSD-2-Clause, BSD-3-Clause, or UNLICENSED (no LICENSE file). */
  license?: string
  /** Where the source lives: `OWNER/REPO` (GitHub), `gitlab:OWNER/REPO`, or a URL; gives `repository`, `homepage` and `bugs`. */
  repository?: string
  /** The LICENSE file's copyright year; default this year. */
  year?: number
  /** Write into a directory that is not empty (the template's files replace any of the same name). */
  force?: boolean
  /** The root uuid of the example config; default a new random one. */
  rootUuid?: string
  /** Resolves a relative `directory`; default `process.cwd()`. */
  cwd?: string
}

/** What `createDriverPackage` wrote. */
export interface CreatedDriverPackage {
  /** Absolute path of the new package. */
  directory: string
  packageName: string
  /** The license in package.json (and LICENSE, unless UNLICENSED). */
  license: LicenseId
  /** Whether package.json got `repository` (from the `repository` option). */
  hasRepository: boolean
  /** Files written, relative to `directory`, sorted. */
  files: string[]
}

/** The package name a driver gets unless told otherwise: `my-meter` → `smap-driver-my-meter`. */
export function defaultPackageName(name: string): string {
  return `${PACKAGE_PREFIX}${name}`
}

/** The description a driver gets unless told otherwise. */
export function defaultDescription(name: string): string {
  return `sMAP driver for ${name}`
}

/** Refuses a target that is a file, or a directory with files in it unless `force`. */
export async function checkTarget(directory: string, cwd: string, force: boolean): Promise<void> {
  const shown = relative(cwd, directory).startsWith('..') ? directory : relative(cwd, directory) || '.'
  let entries: string[]
  try {
    if (!(await stat(directory)).isDirectory()) throw new CreateError('SMAP_CREATE_TARGET', `${shown} exists and is not a directory: choose another name or directory`)
    entries = await readdir(directory)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (entries.length > 0 && !force) {
    throw new CreateError('SMAP_CREATE_NOT_EMPTY', `${shown} is not empty: choose another name or directory, or pass --force to write into it`)
  }
}

/**
 * Writes a ready-to-publish driver package: package.json, a driver made with
 * `defineDriver`, its test with the SDK's harness, a tsup build, a README and
 * an example config. Throws a CreateError for a bad name or a non-empty directory.
 * @example
 * const { directory } = await createDriverPackage({ name: 'my-meter' })
 */
export async function createDriverPackage(options: CreateDriverOptions): Promise<CreatedDriverPackage> {
  const { name } = options
  checkDriverName(name)
  const packageName = options.packageName ?? defaultPackageName(name)
  checkPackageName(packageName)
  const description = options.description ?? defaultDescription(name)
  const author = options.author ?? ''
  checkLine('description', description)
  checkLine('author', author)
  const license = checkLicense(options.license ?? 'MIT')
  const repository = options.repository === undefined || options.repository.trim() === '' ? undefined : repositoryFields(options.repository)
  const rootUuid = options.rootUuid ?? randomUUID()
  if (!UUID.test(rootUuid)) throw new CreateError('SMAP_CREATE_INVALID', `rootUuid: expected a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got "${rootUuid}"`)
  const cwd = options.cwd ?? process.cwd()
  const directory = resolve(cwd, options.directory ?? name)
  await checkTarget(directory, cwd, options.force ?? false)
  const files = await copyTemplate(directory, {
    name,
    packageName,
    description,
    author,
    rootUuid,
    // the example config attaches the driver at /meter
    powerUuid: uuidv5('power', uuidv5('/meter', rootUuid)),
    license,
    // the compatibility promise: one range for the whole contract line the SDK is on
    sdkRange: lineRange(BUILT_WITH.sdk),
    testingRange: lineRange(BUILT_WITH.testing),
    cliRange: lineRange(BUILT_WITH.cli),
  })
  if (repository) {
    // after license, where npm's own init puts them
    const file = join(directory, 'package.json')
    const pkg = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>
    const out = Object.fromEntries(Object.entries(pkg).flatMap(([k, v]) => (k === 'license' ? [[k, v], ...Object.entries(repository)] : [[k, v]])))
    await writeFile(file, `${JSON.stringify(out, null, 2)}\n`)
  }
  const text = licenseText(license, options.year ?? new Date().getFullYear(), holder(author, packageName))
  if (text !== undefined) {
    await writeFile(join(directory, 'LICENSE'), text)
    files.push('LICENSE')
    files.sort()
  }
  return { directory, packageName, license, hasRepository: repository !== undefined, files }
}
