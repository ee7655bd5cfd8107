import { execFile } from 'node:child_process'
import { existsSync, realpathSync, statSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative, resolve } from 'node:path'
import { promisify } from 'node:util'
import { driverExports, globalPackageRoots, SDK_VERSION, sdkCompatibility, SmapError, type SdkCompatibility } from '@smap/core'
import { defineCommand } from 'citty'

/** A driver package found on disk. */
export interface InstalledDriver {
  name: string
  version: string
  /** The `@smap/sdk` range it declares (peer, else dependency). */
  sdkRange?: string
  compatibility: SdkCompatibility
  /** Its folder, and whether it is among the global packages. */
  dir: string
  global: boolean
  /** Export name → driver name and description; empty when it failed to load (see `problem`). */
  drivers: Record<string, { name: string; description?: string }>
  problem?: string
}

/** Packages that use the SDK but are not drivers. */
const NOT_DRIVERS = new Set(['@smap/sdk', '@smap/core', '@smap/cli', '@smap/testing', 'create-smap-driver'])

interface Manifest {
  name?: string
  version?: string
  keywords?: unknown
  peerDependencies?: Record<string, string>
  dependencies?: Record<string, string>
}

/** The `node_modules` folders a config in `dir` resolves packages from, nearest first (as Node looks). */
function modulesChain(dir: string): string[] {
  const out: string[] = []
  for (let d = resolve(dir); ; d = dirname(d)) {
    const m = join(d, 'node_modules')
    if (existsSync(m)) out.push(m)
    if (dirname(d) === d) return out
  }
}

async function packagesIn(modules: string): Promise<Array<{ dir: string; pkg: Manifest }>> {
  const found: Array<{ dir: string; pkg: Manifest }> = []
  const names = await readdir(modules).catch(() => [] as string[])
  const dirs = (
    await Promise.all(
      names
        .filter((n) => !n.startsWith('.'))
        .map(async (n) => (n.startsWith('@') ? (await readdir(join(modules, n)).catch(() => [] as string[])).map((s) => join(modules, n, s)) : [join(modules, n)])),
    )
  ).flat()
  for (const dir of dirs) {
    const pkg = await readFile(join(dir, 'package.json'), 'utf8').then((t) => JSON.parse(t) as Manifest, () => undefined)
    if (pkg?.name !== undefined && isDriverPackage(pkg)) found.push({ dir, pkg })
  }
  return found
}

function isDriverPackage(pkg: Manifest): boolean {
  if (NOT_DRIVERS.has(pkg.name as string)) return false
  const keywords = Array.isArray(pkg.keywords) ? pkg.keywords : []
  return keywords.includes('smap-driver') || pkg.peerDependencies?.['@smap/sdk'] !== undefined || pkg.dependencies?.['@smap/sdk'] !== undefined
}

/**
 * The driver packages a config in `dir` can name: those in its `node_modules`
 * chain, then the global ones (a global smap finds them too), each once.
 */
export async function listInstalledDrivers(dir: string, globalRoots: readonly string[] = globalPackageRoots()): Promise<InstalledDriver[]> {
  const seen = new Set<string>()
  const out: InstalledDriver[] = []
  const places = [...modulesChain(dir).map((m) => ({ m, global: false })), ...globalRoots.filter((g) => existsSync(g)).map((m) => ({ m, global: true }))]
  for (const { m, global } of places) {
    for (const { dir: pkgDir, pkg } of await packagesIn(m)) {
      const real = realpathSync(pkgDir)
      const name = pkg.name as string
      if (seen.has(real) || out.some((d) => d.name === name)) continue // a nearer one of the same name wins, as in Node
      seen.add(real)
      const sdkRange = pkg.peerDependencies?.['@smap/sdk'] ?? pkg.dependencies?.['@smap/sdk']
      const entry: InstalledDriver = { name, version: pkg.version ?? '?', compatibility: sdkCompatibility(sdkRange, SDK_VERSION), dir: pkgDir, global, drivers: {} }
      if (sdkRange !== undefined) entry.sdkRange = sdkRange
      try {
        for (const [exp, def] of Object.entries(await driverExports(name, dirname(m), { globalRoots: [] }))) {
          entry.drivers[exp] = { name: def.name, ...(def.description === undefined ? {} : { description: def.description }) }
        }
      } catch (err) {
        entry.problem = err instanceof Error ? err.message : String(err)
      }
      out.push(entry)
    }
  }
  return out
}

/** One status word and, for a mismatch, the command that fixes it. */
function verdict(d: InstalledDriver): string {
  const c = d.compatibility
  const npm = d.global ? 'npm install -g' : 'npm install'
  switch (c.kind) {
    case 'in-range':
      return 'ok'
    case 'unchecked':
      return d.sdkRange === undefined ? 'ok (declares no @smap/sdk range)' : 'ok'
    case 'promised':
      return `ok (built for ${c.builtFor}; covered by the compatibility promise)`
    case 'needs-newer':
      return `needs @smap/sdk ${c.needs}: update smap with \`${npm} @smap/cli@latest\``
    case 'other-line':
      return `built for an older SDK line: \`${npm} ${d.name}@latest\``
  }
}

/** The listing as text: one block per package. */
export function renderInstalled(list: InstalledDriver[], dir: string): string {
  const lines = [`Driver packages a config in ${dir} can name (this smap runs @smap/sdk ${SDK_VERSION}):`, '']
  if (list.length === 0) lines.push('  none installed: `npm install PACKAGE` adds one; `smap drivers --search WORDS` finds some')
  for (const d of list) {
    const where = d.global ? `global, ${d.dir}` : relative(dir, d.dir) || '.'
    lines.push(`  ${d.name} ${d.version}  @smap/sdk ${d.sdkRange ?? '(none)'}  ${verdict(d)}`, `    ${where}`)
    if (d.problem !== undefined) lines.push(`    fails to load: ${d.problem}`)
    for (const [exp, def] of Object.entries(d.drivers)) {
      const ref = exp === 'default' ? d.name : `${d.name}#${exp}`
      lines.push(`    type = ${ref}${def.description === undefined ? '' : `  ${def.description}`}`)
    }
  }
  return `${lines.join('\n')}\n`
}

/** One package of the registry's search answer (`/-/v1/search`). */
export interface FoundPackage {
  name: string
  version: string
  description?: string
  date?: string
  link?: string
}

const exec = promisify(execFile)

/** The registry npm is configured with (`npm config get registry`), ending in `/`. */
async function configuredRegistry(): Promise<string> {
  let url = process.env.npm_config_registry ?? process.env.NPM_CONFIG_REGISTRY
  if (url === undefined || url === '') {
    try {
      url = (await exec(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['config', 'get', 'registry'], { timeout: 10_000 })).stdout.trim()
    } catch {
      url = 'https://registry.npmjs.org/'
    }
  }
  return url.endsWith('/') ? url : `${url}/`
}

/** Asks the registry for packages with the `smap-driver` keyword that match `words`. */
export async function searchRegistry(words: string, registry?: string): Promise<{ registry: string; found: FoundPackage[]; total: number }> {
  const base = registry ?? (await configuredRegistry())
  const text = `keywords:smap-driver${words.trim() === '' ? '' : ` ${words.trim()}`}`
  const url = `${base}-/v1/search?text=${encodeURIComponent(text)}&size=100`
  let res: Response
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(15_000), headers: { accept: 'application/json' } })
  } catch (err) {
    throw new SmapError('SMAP_SEARCH_FAILED', `cannot reach the registry ${base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message} (set another with \`npm config set registry URL\`)`)
  }
  if (!res.ok) throw new SmapError('SMAP_SEARCH_FAILED', `the registry ${base} answered ${res.status} ${res.statusText} to a search`)
  const body = (await res.json().catch(() => undefined)) as { objects?: Array<{ package?: Record<string, unknown> }>; total?: number } | undefined
  if (!Array.isArray(body?.objects)) throw new SmapError('SMAP_SEARCH_FAILED', `the registry ${base} answered a search with something that is not a search result`)
  const found: FoundPackage[] = []
  for (const o of body.objects) {
    const p = o.package
    if (typeof p?.name !== 'string' || typeof p.version !== 'string') continue
    const links = (p.links ?? {}) as { npm?: unknown; homepage?: unknown }
    const link = typeof links.homepage === 'string' ? links.homepage : typeof links.npm === 'string' ? links.npm : undefined
    found.push({
      name: p.name,
      version: p.version,
      ...(typeof p.description === 'string' ? { description: p.description } : {}),
      ...(typeof p.date === 'string' ? { date: p.date } : {}),
      ...(link === undefined ? {} : { link }),
    })
  }
  return { registry: base, found, total: typeof body.total === 'number' ? body.total : found.length }
}

export function renderFound(words: string, r: { registry: string; found: FoundPackage[]; total: number }): string {
  const what = words.trim() === '' ? 'driver packages' : `driver packages matching "${words.trim()}"`
  if (r.found.length === 0) return `no ${what} on ${r.registry}\n`
  const lines = [`${r.total} ${what} on ${r.registry}:`, '']
  for (const p of r.found) {
    lines.push(`  ${p.name} ${p.version}${p.date === undefined ? '' : `  (${p.date.slice(0, 10)})`}`)
    if (p.description !== undefined) lines.push(`    ${p.description}`)
    if (p.link !== undefined) lines.push(`    ${p.link}`)
  }
  lines.push('', 'Install one beside your config with `npm install NAME`, then `smap describe NAME` shows its options.')
  return `${lines.join('\n')}\n`
}

export const driversCommand = defineCommand({
  meta: { name: 'drivers', description: 'List the driver packages a config can name (installed beside it or globally), or search the registry for more' },
  args: {
    dir: { type: 'positional', description: 'the config file or its folder (default: the current folder)', required: false },
    search: { type: 'string', description: 'ask the npm registry for driver packages (keyword smap-driver) matching these words; "" lists them all' },
    json: { type: 'boolean', description: 'print JSON instead of text' },
  },
  async run({ args }) {
    if (args.search !== undefined) {
      const r = await searchRegistry(args.search)
      process.stdout.write(args.json === true ? `${JSON.stringify(r, null, 2)}\n` : renderFound(args.search, r))
      return
    }
    const given = resolve(args.dir ?? '.')
    const dir = existsSync(given) && statSync(given).isFile() ? dirname(given) : given
    if (!existsSync(dir)) throw new SmapError('SMAP_CLI_USAGE', `no such folder: ${dir}`)
    const list = await listInstalledDrivers(dir)
    process.stdout.write(args.json === true ? `${JSON.stringify(list, null, 2)}\n` : renderInstalled(list, dir))
  },
})
