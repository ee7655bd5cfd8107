// `smap dev [PATH]`: the driver author's loop. This process watches the
// files and runs the source in a child process (through tsx for TypeScript),
// started again after every change, on the same port.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'
import { basename, dirname, join, resolve, sep } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { SmapError } from '@smap/core'
import { defineCommand } from 'citty'
import { parsePortArg, untilSignal, UsageError } from './commands.js'
import { EXIT_BROKEN, EXIT_CANNOT_SERVE, type DevChildMessage, type DevChildSpec } from './dev-protocol.js'
import { wantsColor } from './_usage.js'
import { devOutput, type DevOutput } from './dev-format.js'
import { findPackageDir, findTsx, isTypeScript, readDevPackage, shortPath, tryReadDevPackage, tsxMissing } from './dev-package.js'
import { DevWatcher } from './dev-watch.js'

/** What to run and what to watch. */
export interface DevPlan {
  spec: DevChildSpec
  /** tsx's ESM loader, when there is one. */
  loader: string | undefined
  dirs: string[]
  files: string[]
}

const MODULE = /\.[cm]?[jt]sx?$/

/** `./src/index.ts` for a file below the working directory, else its absolute path: how resolveDriver takes a module. */
function moduleSpec(file: string): string {
  const short = shortPath(file)
  return short === file ? file : `./${short}`
}

/** Works out what `smap dev PATH` runs; a one-line error for anything it cannot. */
export function planDev(path: string | undefined, options: Pick<DevChildSpec, 'opts' | 'port' | 'host' | 'uuid' | 'quiet' | 'color'>): DevPlan {
  const hash = path?.indexOf('#') ?? -1
  const exportSuffix = path !== undefined && hash !== -1 ? path.slice(hash) : ''
  const target = path === undefined || hash === 0 ? undefined : resolve(hash === -1 ? path : path.slice(0, hash))
  if (target !== undefined && !existsSync(target)) throw new UsageError(`no such file or folder: ${path}`)
  const isDir = target === undefined || statSync(target).isDirectory()
  const base = { ...options }
  const dirs: string[] = []
  const files: string[] = []
  const watchSources = (pkgDir: string | undefined, fallback: string): void => {
    const src = pkgDir === undefined ? undefined : join(pkgDir, 'src')
    dirs.push(src !== undefined && existsSync(src) ? src : fallback)
  }
  let spec: DevChildSpec
  let loaderDir: string
  let typescript: string | undefined
  if (isDir) {
    const pkgDir = findPackageDir(target ?? process.cwd())
    if (pkgDir === undefined) {
      throw new UsageError(`no package.json in ${shortPath(target ?? process.cwd()) || '.'} or above: run smap dev in a driver package's folder, or name a config (smap dev conf.ini) or a driver module (smap dev ./my-driver.ts)`)
    }
    const pkg = readDevPackage(pkgDir)
    spec = { ...base, driver: `${moduleSpec(pkg.entry)}${exportSuffix}`, label: pkg.name ?? basename(pkgDir) }
    watchSources(pkgDir, dirname(pkg.entry))
    loaderDir = pkgDir
    if (isTypeScript(pkg.entry)) typescript = pkg.entry
  } else if (MODULE.test(target)) {
    const pkgDir = findPackageDir(dirname(target))
    spec = { ...base, driver: `${moduleSpec(target)}${exportSuffix}`, label: basename(target) }
    watchSources(pkgDir, dirname(target))
    files.push(target)
    loaderDir = pkgDir ?? dirname(target)
    if (isTypeScript(target)) typescript = target
  } else {
    if (exportSuffix !== '') throw new UsageError(`${path}: #Export names a driver of a module; a config names its drivers in its sections (type = PACKAGE#Export)`)
    if (Object.keys(options.opts).length > 0) throw new UsageError(`--opt sets an option of the package's driver; a config sets them in its sections (Key = Value under [/PATH])`)
    if (options.uuid !== undefined) throw new UsageError(`--uuid is for a driver run at the root; a config's root uuid is uuid in its [/] section`)
    const pkgDir = findPackageDir(dirname(target))
    const manifest = pkgDir === undefined ? undefined : tryReadDevPackage(pkgDir)
    spec = { ...base, config: target, label: basename(target), pkg: manifest?.name === undefined ? undefined : { name: manifest.name, entry: manifest.entry } }
    if (manifest !== undefined) watchSources(pkgDir, dirname(manifest.entry))
    files.push(target)
    loaderDir = pkgDir ?? dirname(target)
    if (manifest !== undefined && isTypeScript(manifest.entry)) typescript = manifest.entry
  }
  const loader = findTsx(loaderDir)
  if (typescript !== undefined && loader === undefined) throw tsxMissing(typescript, loaderDir)
  return { spec, loader, dirs, files }
}

/** One run of the source. */
interface Run {
  child: ChildProcess
  exited: Promise<void>
  /** Set before the parent stops it, so its exit is not reported as a failure. */
  stopping: boolean
}

const DEBOUNCE_MS = 150
/** How long a child may take to stop (its drivers get 5 s each) before it is killed. */
const CHILD_STOP_MS = 12_000
const CHILD = fileURLToPath(new URL('./dev-child.js', import.meta.url))

/** Runs the plan until SIGINT/SIGTERM: watches, restarts, stops the child before returning. */
export async function superviseDev(plan: DevPlan, out: DevOutput): Promise<void> {
  if (!existsSync(CHILD)) throw new SmapError('SMAP_CLI_BUILD', `${CHILD} is missing: build @smap/cli first (pnpm run build)`)
  const spec = { ...plan.spec }
  let run: Run | undefined
  let busy = false
  let pending: string | undefined
  let timer: NodeJS.Timeout | undefined
  const changed = new Set<string>()
  let closed = false
  let fatal: ((err: Error) => void) | undefined
  const failed = new Promise<never>((_, reject) => (fatal = reject))
  failed.catch(() => undefined)

  const start = (): void => {
    const args = [...(plan.loader ? ['--import', pathToFileURL(plan.loader).href] : []), CHILD, JSON.stringify(spec)]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const current: Run = { child, stopping: false, exited: new Promise((r) => child.once('exit', () => r())) }
    run = current
    child.on('message', (m: DevChildMessage) => {
      if (m.type === 'serving') spec.port = m.port
      else for (const f of m.files) if (watcher.addFile(f)) out.info(`watching ${shortPath(f)} too`)
    })
    child.once('exit', (code, signal) => {
      if (current.stopping || closed) return
      if (code === EXIT_CANNOT_SERVE) fatal?.(new SmapError('SMAP_DEV_CANNOT_SERVE', 'stopped: the source cannot be served (see the error above)'))
      else if (code === EXIT_BROKEN) out.info('waiting for a change to restart (Ctrl-C to stop)')
      else out.error(`the source exited (${signal ?? `code ${code}`}); waiting for a change to restart (Ctrl-C to stop)`)
    })
  }
  const stopRun = async (): Promise<void> => {
    const r = run
    if (r === undefined || r.child.exitCode !== null || r.child.signalCode !== null) return
    r.stopping = true
    r.child.kill('SIGTERM')
    const kill = setTimeout(() => r.child.kill('SIGKILL'), CHILD_STOP_MS)
    await r.exited
    clearTimeout(kill)
  }
  const restart = async (reason: string): Promise<void> => {
    if (busy) {
      pending ??= reason
      return
    }
    busy = true
    try {
      for (let why: string | undefined = reason; why !== undefined && !closed; why = pending, pending = undefined) {
        out.info(`restarting: ${why}`)
        await stopRun()
        if (!closed) start()
      }
    } finally {
      busy = false
    }
  }
  const watcher = new DevWatcher(
    (file) => {
      changed.add(file)
      clearTimeout(timer)
      timer = setTimeout(() => {
        // an editor's save may pass through a scratch file: name one that is there now
        const files = [...changed]
        changed.clear()
        const shown = files.find((f) => existsSync(f)) ?? (files[0] as string)
        void restart(`${shortPath(shown)} ${existsSync(shown) ? 'changed' : 'was removed'}`)
      }, DEBOUNCE_MS)
    },
    (err) => out.warn(`cannot watch for changes: ${err.message}`),
  )
  for (const d of plan.dirs) watcher.addDir(d)
  for (const f of plan.files) watcher.addFile(f)
  out.info(`watching ${watcher.watched.map((w) => (w.endsWith(sep) ? `${shortPath(w.slice(0, -1)) || '.'}/` : shortPath(w))).join(', ')}; Ctrl-C stops`)

  const signalled = untilSignal()
  start()
  try {
    await Promise.race([signalled, failed])
  } finally {
    closed = true
    clearTimeout(timer)
    watcher.close()
    // a second signal while the child stops kills it and leaves at once
    void untilSignal().then(() => {
      run?.child.kill('SIGKILL')
      process.exit(1)
    })
    await stopRun()
  }
}

export const devCommand = defineCommand({
  meta: { name: 'dev', description: 'Run a driver from its source while you work on it: restarts on every change, shows readings and errors as they happen' },
  args: {
    path: { type: 'positional', required: false, description: "a config (conf.ini) or a driver module (./src/meter.ts) instead of this folder's package; #Export picks a named driver" },
    port: { type: 'string', description: 'HTTP port (default: 8080, or Port in the config; the same across restarts)' },
    host: { type: 'string', description: 'address to listen on (default 127.0.0.1)' },
    uuid: { type: 'string', description: 'root uuid (default: one derived from the package name, the same every run)' },
    opt: { type: 'string', description: 'a driver option as Key=Value; repeat for more' },
    quiet: { type: 'boolean', description: 'hide readings (state changes, logs and errors still show)' },
  },
  async run({ args, data }) {
    const opts = (data as { opts?: Record<string, string> } | undefined)?.opts ?? {}
    const color = wantsColor(process.stdout)
    const plan = planDev(args.path, { opts, port: parsePortArg(args.port), host: args.host, uuid: args.uuid, quiet: args.quiet === true, color })
    await superviseDev(plan, devOutput({ color }))
  },
})
