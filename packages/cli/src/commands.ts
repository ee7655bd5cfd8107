import { randomUUID } from 'node:crypto'
import { load, serve, SmapError } from '@smap/core'
import { defineCommand } from 'citty'

/** A mistake in how the command was called; printed without a stack. */
export class UsageError extends SmapError {
  constructor(message: string) {
    super('SMAP_CLI_USAGE', message)
    this.name = 'UsageError'
  }
}

function parsePortArg(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`--port: expected a port number from 0 to 65535, got "${value}"`)
  return Number(value)
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
    const inst = await load(args.conf)
    if (args['data-dir'] !== undefined) inst.server.dataDir = args['data-dir']
    const server = await serve(inst, { port, host: args.host })
    inst.logger.info(`serving ${args.conf} at ${server.url}/data (root ${inst.root})`)
    await untilSignal()
    inst.logger.info('stopping')
    await server.close()
  },
})

export const uuidCommand = defineCommand({
  meta: { name: 'uuid', description: 'Print a new random uuid, e.g. for the [/] section of a config' },
  args: {},
  run() {
    process.stdout.write(`${randomUUID()}\n`)
  },
})

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(): Promise<NodeJS.Signals> {
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
