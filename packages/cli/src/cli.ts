import { createRequire } from 'node:module'
import { SmapError } from '@smap/core'
import { defineCommand, renderUsage, runCommand as runCitty, type ArgsDef, type CommandDef } from 'citty'
import { forOutput } from './_usage.js'
import { actuateCommand } from './actuate.js'
import { checkDriverCommand } from './check-driver.js'
import { runCommand, runDriverCommand, takeOpts, UsageError, uuidCommand, validateCommand } from './commands.js'
import { devCommand } from './dev.js'
import { driversCommand } from './drivers.js'
import { describeCommand } from './describe.js'
import { loadCommand } from './load.js'
import { sinkCommand } from './sink.js'
import { treeCommand } from './tree.js'

const { version } = createRequire(import.meta.url)('../package.json') as { version: string }

const subCommands: Record<string, CommandDef<ArgsDef>> = {
  run: runCommand as CommandDef<ArgsDef>,
  'run-driver': runDriverCommand as CommandDef<ArgsDef>,
  dev: devCommand as CommandDef<ArgsDef>,
  validate: validateCommand as CommandDef<ArgsDef>,
  load: loadCommand as CommandDef<ArgsDef>,
  uuid: uuidCommand as CommandDef<ArgsDef>,
  sink: sinkCommand as CommandDef<ArgsDef>,
  tree: treeCommand as CommandDef<ArgsDef>,
  actuate: actuateCommand as CommandDef<ArgsDef>,
  drivers: driversCommand as CommandDef<ArgsDef>,
  describe: describeCommand as CommandDef<ArgsDef>,
  'check-driver': checkDriverCommand as CommandDef<ArgsDef>,
}

const main = defineCommand({
  meta: { name: 'smap', version, description: 'sMAP: serve measurements from devices and feeds over HTTP' },
  subCommands,
})

/**
 * Runs the `smap` command with `argv` (without node and script) and returns the exit code.
 * A user's mistake prints one line to stderr; a bug prints its stack.
 * @example process.exitCode = await runCli(process.argv.slice(2))
 */
export async function runCli(argv: string[]): Promise<number> {
  const name = argv[0]
  const wantsHelp = argv.includes('--help') || argv.includes('-h')
  if (name === undefined || name === '--help' || name === '-h') {
    process.stdout.write(`${forOutput(await renderUsage(main), process.stdout)}\n`)
    return name === undefined ? 1 : 0
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${version}\n`)
    return 0
  }
  const cmd = subCommands[name]
  if (!cmd) {
    process.stderr.write(`smap: unknown command "${name}"; commands: ${Object.keys(subCommands).join(', ')} (see smap --help)\n`)
    return 1
  }
  if (wantsHelp) {
    process.stdout.write(`${forOutput(await renderUsage(cmd, main), process.stdout)}\n`)
    return 0
  }
  try {
    let rawArgs = argv.slice(1)
    let data: unknown
    if (name === 'run-driver' || name === 'dev') {
      const { rest, opts } = takeOpts(rawArgs)
      rawArgs = rest
      data = { opts }
    }
    checkOptions(cmd, rawArgs)
    await runCitty(cmd, { rawArgs, data })
    return 0
  } catch (err) {
    if (err instanceof SmapError) {
      process.stderr.write(`smap ${name}: ${err.message}\n`)
      return 1
    }
    if (err instanceof Error && err.name === 'CLIError') {
      process.stderr.write(`smap ${name}: ${err.message} (see smap ${name} --help)\n`)
      return 1
    }
    process.stderr.write(`smap ${name}: unexpected error, please report it:\n${err instanceof Error ? err.stack : String(err)}\n`)
    return 2
  }
}

// citty accepts any --flag; a misspelt option should be an error, not ignored.
function checkOptions(cmd: CommandDef<ArgsDef>, args: string[]): void {
  const defs = (cmd.args ?? {}) as ArgsDef
  const known = new Set(Object.entries(defs).filter(([, d]) => d.type !== 'positional').map(([n]) => n))
  // a short alias (-z for --timezone) stands for its option
  const byAlias = new Map(Object.entries(defs).flatMap(([n, d]) => ('alias' in d && d.alias !== undefined ? [d.alias].flat().map((a): [string, string] => [a, n]) : [])))
  const positionals = Object.values(defs).filter((d) => d.type === 'positional').length
  let seen = 0
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '--') break
    if (arg.startsWith('-')) {
      const written = arg.replace(/^--?/, '').split('=')[0] as string
      const flag = byAlias.get(written) ?? written
      if (!known.has(flag)) throw new UsageError(`unknown option ${arg.split('=')[0]}${known.size ? `; options: ${[...known].map((k) => `--${k}`).join(', ')}` : ''}`)
      const def = defs[flag]
      if (def?.type === 'string' && !arg.includes('=')) {
        if (args[i + 1] === undefined) throw new UsageError(`option --${flag} needs a value`)
        i++
      }
    } else if (++seen > positionals) throw new UsageError(`unexpected argument "${arg}"`)
  }
}
