import { randomUUID } from 'node:crypto'
import { resolve } from 'node:path'
import type { ConfigError} from '@smap/core';
import { load, parsePort, PORT_RULE, resolveDriver, serve, SmapError, SmapInstance, uuid5, type Logger, type SmapServer } from '@smap/core'
import { defineCommand } from 'citty'

/** A mistake in how the command was called; printed without a stack. */
export class UsageError extends SmapError {
  constructor(message: string) {
    super('SMAP_CLI_USAGE', message)
    this.name = 'UsageError'
  }
}

/** A --port value, or a one-line usage error. */
export function parsePortArg(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const port = parsePort(value)
  if (port === undefined) throw new UsageError(`--port: expected ${PORT_RULE}, got "${value}"`)
  return port
}

export const runCommand = defineCommand({
  meta: { name: 'run', description: 'Load a config file and serve it until stopped (Ctrl-C)' },
  args: {
    conf: { type: 'positional', description: 'the config file, e.g. conf.ini', required: true },
    port: { type: 'string', description: 'HTTP port (default: Port in [server], else 8080)' },
    host: { type: 'string', description: 'address to listen on (default: Host in [server], else 127.0.0.1)' },
    'data-dir': { type: 'string', description: 'where buffered data is kept (default: DataDir in [server], else .smap beside the config)' },
  },
  async run({ args }) {
    const port = parsePortArg(args.port)
    // settings are resolved before anything is built, so --data-dir reaches the outboxes and subscriptions too
    const inst = await load(args.conf, args['data-dir'] === undefined ? {} : { server: { dataDir: resolve(args['data-dir']) } })
    const server = await serve(inst, { port, host: args.host })
    // listen before announcing: a signal sent as soon as the line appears must not meet the default handler
    const signalled = untilSignal()
    const also = server.tlsUrl !== undefined && server.tlsUrl !== server.url ? ` and ${server.tlsUrl}/data` : ''
    inst.logger.info(`serving ${args.conf} at ${server.url}/data${also} (root ${inst.root})`)
    await signalled
    await stopWithin(server, inst.logger)
  },
})

/** A fixed namespace, so `smap run-driver X` (and `smap dev`) gives X's streams the same uuids every time. */
export const RUN_DRIVER_NAMESPACE = 'c7e1a3f0-6b1e-5e2a-9d7c-3f1b2a4c5d6e'

/** `--opt Key=Value` pairs, which citty cannot collect when repeated. */
export function takeOpts(argv: string[]): { rest: string[]; opts: Record<string, string> } {
  const rest: string[] = []
  const opts: Record<string, string> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    let pair: string | undefined
    if (arg === '--opt' || arg === '-o') {
      pair = argv[++i]
      if (pair === undefined) throw new UsageError(`${arg} needs a Key=Value after it, e.g. --opt Rate=5`)
    } else if (arg.startsWith('--opt=')) pair = arg.slice('--opt='.length)
    else {
      rest.push(arg)
      continue
    }
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError(`--opt expects Key=Value, e.g. --opt Rate=5, got "${pair}"`)
    opts[pair.slice(0, eq)] = pair.slice(eq + 1)
  }
  return { rest, opts }
}

export const runDriverCommand = defineCommand({
  meta: { name: 'run-driver', description: 'Run one driver at the root of a new source, for trying it out' },
  args: {
    driver: { type: 'positional', description: 'a package (smap-driver-x, @scope/pkg), optionally #Export, or a module path (./my-driver.js)', required: true },
    port: { type: 'string', description: 'HTTP port (default 8080)' },
    host: { type: 'string', description: 'address to listen on (default 127.0.0.1)' },
    uuid: { type: 'string', description: 'root uuid (default: one derived from the driver name, the same every run)' },
    opt: { type: 'string', description: 'a driver option as Key=Value; repeat for more' },
  },
  async run({ args, data }) {
    const opts = (data as { opts?: Record<string, string> } | undefined)?.opts ?? {}
    const port = parsePortArg(args.port)
    const root = args.uuid ?? uuid5(RUN_DRIVER_NAMESPACE, args.driver)
    const inst = new SmapInstance(root)
    const resolved = await resolveDriver(args.driver, process.cwd())
    for (const note of resolved.notes ?? []) inst.logger.warn(note)
    inst.addDriver('/', resolved.definition, opts, { ref: args.driver, rawOptions: opts })
    const server = await serve(inst, { port, host: args.host })
    const signalled = untilSignal()
    inst.logger.info(`running ${args.driver} at ${server.url}/data (root ${root}); status at ${server.url}/status`)
    await signalled
    await stopWithin(server, inst.logger)
  },
})

export const validateCommand = defineCommand({
  meta: { name: 'validate', description: 'Check a config: every section, every driver and its options, without starting anything' },
  args: {
    conf: { type: 'positional', description: 'the config file, e.g. conf.ini', required: true },
  },
  async run({ args }) {
    const errors: ConfigError[] = []
    await load(args.conf, { errors })
    errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
    if (errors.length > 0) {
      throw new SmapError('SMAP_CONFIG_INVALID', `${errors.length} problem${errors.length === 1 ? '' : 's'}:\n${errors.map((e) => `  ${e.message}`).join('\n')}`)
    }
    process.stdout.write(`${args.conf}: ok\n`)
  },
})

export const uuidCommand = defineCommand({
  meta: { name: 'uuid', description: 'Print a new random uuid, e.g. for the [/] section of a config' },
  args: {},
  run() {
    process.stdout.write(`${randomUUID()}\n`)
  },
})

/** How long a stop may take before the process exits anyway (drivers get 5 s each, in parallel). */
const STOP_DEADLINE_MS = 15_000

/**
 * Stops the source; a second SIGINT or SIGTERM, or a stop that outlives its
 * deadline, exits at once, saying so: a signal always ends the process.
 */
export async function stopWithin(server: SmapServer, logger: Logger): Promise<void> {
  const second = untilSignal().then(() => 'signal' as const) // before the line that invites it
  logger.info('stopping (a second Ctrl-C or SIGTERM exits at once)')
  let timer: NodeJS.Timeout | undefined
  const outcome = await Promise.race([
    server.close().then(() => 'stopped' as const),
    second,
    new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), STOP_DEADLINE_MS))),
  ])
  clearTimeout(timer)
  if (outcome === 'stopped') return
  logger.error(
    outcome === 'signal'
      ? 'a second signal while stopping: exiting now; readings not yet written to an outbox are lost'
      : `did not stop within ${STOP_DEADLINE_MS / 1000} s: exiting now; readings not yet written to an outbox are lost`,
  )
  process.exit(1)
}

/** Resolves on the first SIGINT or SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolveSignal) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      resolveSignal(signal)
    }
    process.on('SIGINT', onSignal)
    process.on('SIGTERM', onSignal)
  })
}
