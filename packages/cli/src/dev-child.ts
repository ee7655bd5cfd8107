// The process `smap dev` starts (and starts again after every change): it
// builds the source, serves it, prints readings, state changes and logs, and
// stops cleanly when told to (a signal, or its parent going away).
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { load, resolveDriver, serve, SmapError, SmapInstance, uuid5, type Logger, type ResolvedDriver, type SmapServer } from '@smap/core'
import { RUN_DRIVER_NAMESPACE } from './commands.js'
import { devOutput, type DevOutput } from './dev-format.js'
import { EXIT_BROKEN, EXIT_CANNOT_SERVE, type DevChildMessage, type DevChildSpec } from './dev-protocol.js'

const send = (message: DevChildMessage): void => {
  if (process.connected) process.send?.(message)
}

/**
 * Resolves drivers as a config names them, except that the package being
 * developed runs from its source; notes each module it loads in `modules`.
 */
function devResolver(pkg: DevChildSpec['pkg'], modules: string[]): (ref: string, fromDir: string) => Promise<ResolvedDriver> {
  return async (ref, fromDir) => {
    const hash = ref.indexOf('#')
    const name = hash === -1 ? ref : ref.slice(0, hash)
    const own = pkg !== undefined && name === pkg.name
    const resolved = own ? { ...(await resolveDriver(`${pkg.entry}${hash === -1 ? '' : ref.slice(hash)}`, fromDir)), ref } : await resolveDriver(ref, fromDir)
    if (resolved.module) modules.push(resolved.module.url)
    return resolved
  }
}

async function build(spec: DevChildSpec, logger: Logger, modules: string[]): Promise<SmapInstance> {
  const resolveRef = devResolver(spec.pkg, modules)
  if (spec.config !== undefined) return load(spec.config, { logger, resolveDriver: resolveRef })
  const inst = new SmapInstance(spec.uuid ?? uuid5(RUN_DRIVER_NAMESPACE, spec.label), { logger })
  const resolved = await resolveRef(spec.driver as string, process.cwd())
  inst.addDriver('/', resolved.definition, spec.opts, { ref: spec.label, rawOptions: spec.opts })
  return inst
}

/** Files the parent should watch besides the sources: each driver module loaded from outside node_modules, and the drivers' file options. */
function filesOf(inst: SmapInstance, spec: DevChildSpec, modules: string[]): string[] {
  const base = spec.config !== undefined ? dirname(spec.config) : process.cwd()
  const files = modules.filter((url) => url.startsWith('file:') && !url.includes('/node_modules/')).map((url) => fileURLToPath(url))
  for (const d of inst.drivers.values()) {
    for (const key of d.definition.files ?? []) {
      const value = d.source.rawOptions[key]
      if (value !== undefined && value !== '') files.push(resolve(base, value))
    }
  }
  return files
}

/** How long a state must last to be printed: the blips between two (`ready`, `starting`, ~1 ms each) would only be noise. */
const SETTLE_MS = 50

/**
 * Prints a driver's state once it has lasted SETTLE_MS, as the instance
 * tells each change (a change of health or `disabled` alone prints nothing).
 * Returns the function that stops listening and prints the states still
 * settling, such as `stopped` at the end. Its timers are unref'd, so they
 * keep nothing alive.
 */
function watchStates(inst: SmapInstance, out: DevOutput): () => void {
  const printed = new Map<string, string>()
  const settling = new Map<string, { state: string; timer: NodeJS.Timeout }>()
  const print = (path: string, state: string): void => {
    printed.set(path, state)
    if (state !== 'loaded') out.state(path, state)
  }
  for (const [path, d] of inst.drivers) print(path, d.state)
  const off = inst.onDriverChange((path, { state }) => {
    const pending = settling.get(path)
    if (pending?.state === state) return
    clearTimeout(pending?.timer)
    settling.delete(path)
    if (printed.get(path) === state) return
    const timer = setTimeout(() => {
      settling.delete(path)
      print(path, state)
    }, SETTLE_MS).unref()
    settling.set(path, { state, timer })
  })
  return () => {
    off()
    for (const [path, { state, timer }] of settling) {
      clearTimeout(timer)
      print(path, state)
    }
    settling.clear()
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] as string) as DevChildSpec
  // the host's frames say nothing about the driver's code
  const hideFrames = [dirname(fileURLToPath(import.meta.resolve('@smap/core'))), dirname(fileURLToPath(import.meta.url))]
  const out = devOutput({ color: spec.color, quiet: spec.quiet, hideFrames })
  const logger: Logger = { info: (m) => out.info(m), warn: (m) => out.warn(m), error: (m, e) => out.error(m, e) }
  let server: SmapServer | undefined
  const cleanup: Array<() => void> = []
  let stopping: Promise<void> | undefined
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      // later signals (Ctrl-C reaches both processes, then the parent asks again) change nothing
      if (server) await server.close()
      for (const done of cleanup) done()
      process.exit(0)
    })())
  process.on('SIGINT', () => void stop())
  process.on('SIGTERM', () => void stop())
  process.on('disconnect', () => void stop())

  let inst: SmapInstance
  const modules: string[] = []
  try {
    inst = await build(spec, logger, modules)
  } catch (err) {
    out.error(err instanceof SmapError ? err.message : 'the driver could not be loaded', err instanceof SmapError ? undefined : err)
    process.exit(EXIT_BROKEN)
  }
  send({ type: 'watch', files: filesOf(inst, spec, modules) })
  inst.onReading((ts, time, value) => out.reading(ts.path, value, ts.unit, time))
  cleanup.push(watchStates(inst, out))
  try {
    server = await serve(inst, { port: spec.port, host: spec.host })
  } catch (err) {
    out.error(err instanceof Error ? err.message : String(err))
    process.exit(EXIT_CANNOT_SERVE)
  }
  if (stopping) return
  send({ type: 'serving', port: server.port })
  out.info(`serving at ${server.url}/data (status at ${server.url}/status)`)
}

await main()
