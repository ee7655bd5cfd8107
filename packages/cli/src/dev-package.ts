// What `smap dev` runs: the driver package around a folder, the file its
// source starts at, and the TypeScript loader (tsx) the author installed.
import { existsSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'
import { UsageError } from './commands.js'

/** A package.json found above a folder. */
export interface DevPackage {
  dir: string
  name: string | undefined
  /** The absolute path of the driver's source entry (see `sourceEntry`). */
  entry: string
}

interface Manifest {
  name?: string
  main?: string
  exports?: unknown
}

/** The nearest folder at or above `dir` with a package.json, or undefined. */
export function findPackageDir(dir: string): string | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d
    if (dirname(d) === d) return undefined
  }
}

/** Reads the package at `dir` and picks its source entry; a one-line error if there is none. */
export function readDevPackage(dir: string): DevPackage {
  const file = join(dir, 'package.json')
  let manifest: Manifest
  try {
    manifest = JSON.parse(readFileSync(file, 'utf8')) as Manifest
  } catch (err) {
    throw new UsageError(`cannot read ${file}: ${(err as Error).message}`)
  }
  const entry = sourceEntry(dir, manifest)
  if (entry === undefined) {
    throw new UsageError(`${file} names no entry: add src/index.ts, or "exports": { ".": { "source": "./src/index.ts", ... } }, or name a module (smap dev ./my-driver.ts)`)
  }
  return { dir, name: manifest.name, entry }
}

/** The package at `dir` if it has a name and an entry (a config's folder need not be a driver package). */
export function tryReadDevPackage(dir: string): DevPackage | undefined {
  try {
    const pkg = readDevPackage(dir)
    return pkg.name === undefined ? undefined : pkg
  } catch {
    return undefined
  }
}

/**
 * The file a driver package's source starts at: its `exports["."]`
 * `@smap/source` or `source` condition, else `src/index.ts`, else what
 * `exports` (import/default) or `main` name.
 */
export function sourceEntry(dir: string, manifest: Manifest): string | undefined {
  const dot = rootExport(manifest.exports)
  const named = condition(dot, ['@smap/source', 'source'], true)
  const candidates = [named, 'src/index.ts', condition(dot, ['import', 'node', 'default']), manifest.main, 'index.js']
  for (const c of candidates) {
    if (c === undefined) continue
    const path = resolve(dir, c)
    if (existsSync(path) && statSync(path).isFile()) return path
  }
  return undefined
}

/** `exports["."]`, or `exports` itself when it is a string or a map of conditions. */
function rootExport(exports: unknown): unknown {
  if (exports === null || typeof exports !== 'object' || Array.isArray(exports)) return exports
  const keys = Object.keys(exports)
  if (keys.some((k) => k.startsWith('.'))) return (exports as Record<string, unknown>)['.']
  return exports
}

/**
 * The path a conditions object gives for the first of `names` it has, a
 * plain string counting as `default`; with `anywhere`, also under other
 * conditions (a `source` nested in `import`).
 */
function condition(target: unknown, names: string[], anywhere = false): string | undefined {
  if (typeof target === 'string') return names.includes('default') ? target : undefined
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return undefined
  for (const [key, value] of Object.entries(target as Record<string, unknown>)) {
    if (!names.includes(key) && !anywhere) continue
    if (names.includes(key) && typeof value === 'string') return value
    const nested = condition(value, names, anywhere)
    if (nested !== undefined) return nested
  }
  return undefined
}

const TYPESCRIPT = /\.[cm]?tsx?$/

/** Whether Node needs a TypeScript loader for `file`. */
export function isTypeScript(file: string): boolean {
  return TYPESCRIPT.test(file)
}

/** tsx's ESM loader as installed in the project at `dir` (or above), or undefined. */
export function findTsx(dir: string): string | undefined {
  try {
    return createRequire(join(dir, 'package.json')).resolve('tsx/esm')
  } catch {
    return undefined
  }
}

/** The one line for a TypeScript entry without tsx. */
export function tsxMissing(entry: string, dir: string): UsageError {
  return new UsageError(`${shortPath(entry)} is TypeScript, which smap dev runs through tsx, and tsx is not installed in ${dir}: run \`npm install -D tsx\` there`)
}

/** `path` relative to the working directory when it is inside it, else absolute. */
export function shortPath(path: string, cwd = process.cwd()): string {
  const rel = relative(cwd, path)
  return rel.startsWith('..') || isAbsolute(rel) ? path : rel
}
