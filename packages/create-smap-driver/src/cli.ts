import { createRequire } from 'node:module'
import { relative, resolve, sep } from 'node:path'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'
import { defineCommand, parseArgs, renderUsage, type ArgsDef } from 'citty'
import { checkLicense } from './_licenses.js'
import { checkDriverName, checkLine, checkPackageName } from './_names.js'
import { afterDashes, npmCreate } from './_npm.js'
import { repositoryFields } from './_repository.js'
import { forOutput } from './_usage.js'
import { checkTarget, createDriverPackage, defaultDescription, defaultPackageName, type CreateDriverOptions, type CreatedDriverPackage } from './create.js'
import { CreateError } from './errors.js'

/** Where the command reads answers and writes messages (default the process's); tests pass streams. */
export interface CliIo {
  stdin?: Readable & { isTTY?: boolean }
  stdout?: Writable
  stderr?: Writable
  cwd?: string
  /** Read for NO_COLOR and for what npm passed on (`npm_config_*`); default `process.env`. */
  env?: NodeJS.ProcessEnv
  /** Ask for what the flags leave out; default: when stdin is a terminal. `--yes` never asks. */
  interactive?: boolean
}

const { version } = createRequire(import.meta.url)('../package.json') as { version: string }
const BIN = 'create-smap-driver'

const args = {
  name: { type: 'positional', description: 'the driver name, also its directory, e.g. my-meter', required: false },
  'package-name': { type: 'string', description: 'the npm package name (default smap-driver-NAME)' },
  description: { type: 'string', description: 'one line for package.json and the README' },
  author: { type: 'string', description: 'the package.json author, e.g. "Ada <ada@example.com>"' },
  license: { type: 'string', description: 'MIT (default), ISC, BSD-2-Clause, BSD-3-Clause or UNLICENSED; written to package.json and LICENSE' },
  repository: { type: 'string', description: 'where the source lives: OWNER/REPO (GitHub), gitlab:OWNER/REPO or a URL' },
  yes: { type: 'boolean', alias: 'y', description: 'take the defaults for what the flags leave out; never ask' },
  force: { type: 'boolean', description: 'write into a directory that is not empty' },
} as const satisfies ArgsDef

const command = defineCommand({
  meta: { name: BIN, version, description: 'Create an sMAP driver package (npm create smap-driver my-meter)' },
  args,
})

const HELP_FOOTER = `Through npm, options go after --, or npm keeps them for itself:
  npm create smap-driver my-meter -- --yes --license ISC --repository acme/smap-driver-my-meter
`

class UsageError extends CreateError {
  constructor(message: string) {
    super('SMAP_CREATE_USAGE', message)
  }
}

/**
 * Runs `create-smap-driver` with `argv` (without node and script) and returns
 * the exit code: 0 when the package was written, 1 for a user's mistake.
 * @example process.exitCode = await runCli(process.argv.slice(2))
 */
export async function runCli(argv: string[], io: CliIo = {}): Promise<number> {
  const stdin = io.stdin ?? process.stdin
  const stdout = io.stdout ?? process.stdout
  const stderr = io.stderr ?? process.stderr
  const cwd = io.cwd ?? process.cwd()
  const env = io.env ?? process.env
  if (argv.includes('--help') || argv.includes('-h')) {
    stdout.write(`${forOutput(await renderUsage(command), stdout as { isTTY?: boolean }, env)}\n${HELP_FOOTER}`)
    return 0
  }
  if (argv.includes('--version') || argv.includes('-v')) {
    stdout.write(`${version}\n`)
    return 0
  }
  const npm = npmCreate(argv, Object.keys(args).filter((k) => k !== 'name'), env)
  try {
    const lost = npm.kept.filter((f) => f !== '--force')
    if (lost.length > 0) throw new CreateError('SMAP_CREATE_NPM', `npm kept ${lost.join(', ')} for itself, so it never reached ${BIN}: ${afterDashes()}`)
    checkOptions(argv, npm.init)
    const parsed = parseArgs<typeof args>(argv, args)
    const given: CreateDriverOptions = { name: parsed.name ?? '', force: parsed.force === true }
    if (parsed['package-name'] !== undefined) given.packageName = parsed['package-name']
    if (parsed.description !== undefined) given.description = parsed.description
    if (parsed.author !== undefined) given.author = parsed.author
    if (parsed.license !== undefined) given.license = parsed.license
    if (parsed.repository !== undefined) given.repository = parsed.repository
    if (npm.yes) stderr.write(`${BIN}: npm kept --yes for itself; taking it as ours (${afterDashes()})\n`)
    const yes = parsed.yes === true || npm.yes
    const interactive = (io.interactive ?? stdin.isTTY === true) && !yes
    const options = interactive ? await ask(given, stdin, stdout, cwd) : given
    const created = await createDriverPackage({ ...options, cwd })
    stdout.write(nextSteps(created, cwd))
    return 0
  } catch (err) {
    if (err instanceof CreateError) {
      const force = err.code === 'SMAP_CREATE_NOT_EMPTY' && npm.kept.includes('--force') ? `; npm kept --force for itself: ${afterDashes('--force')}` : ''
      stderr.write(`${BIN}: ${err.message}${force}${err instanceof UsageError ? ` (see ${BIN} --help)` : ''}\n`)
      return 1
    }
    stderr.write(`${BIN}: unexpected error, please report it:\n${err instanceof Error ? err.stack : String(err)}\n`)
    return 2
  }
}

/** What the author runs next, in the new package. */
function nextSteps(created: CreatedDriverPackage, cwd: string): string {
  const where = relative(cwd, created.directory) || '.'
  return [
    `Created ${created.packageName} in ${where}${sep}`,
    '',
    'Next:',
    ...(where === '.' ? [] : [`  cd ${/\s/.test(where) ? JSON.stringify(where) : where}`]),
    '  npm install',
    '  npm run dev       # the driver from src/, restarted on every change',
    '  npm test          # the driver against the SDK test harness',
    '  npm run build     # dist/, ready for npm publish',
    ...(created.hasRepository ? [] : ['  npm pkg set repository=github:OWNER/REPO   # where the source lives, linked from npm']),
    '',
    'README.md shows how to run it with smap and how to publish it.',
    '',
  ].join('\n')
}

// citty accepts any --flag; for automation a misspelt option must be an error, not ignored.
function checkOptions(argv: string[], npmInit: boolean): void {
  const flags = new Map<string, 'string' | 'boolean'>()
  for (const [name, def] of Object.entries(args)) {
    if (def.type === 'positional') continue
    flags.set(name, def.type)
    if ('alias' in def) flags.set(def.alias, def.type)
  }
  let positionals = 0
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') {
      positionals += argv.length - i - 1
      break
    }
    if (arg.startsWith('-') && arg !== '-') {
      const flag = arg.replace(/^--?/, '').split('=')[0] as string
      const type = flags.get(flag) ?? (flag.startsWith('no-') && flags.get(flag.slice(3)) === 'boolean' ? 'boolean' : undefined)
      if (type === undefined) {
        throw new UsageError(`unknown option ${arg.split('=')[0]}; options: ${[...Object.keys(args)].filter((k) => k !== 'name').map((k) => `--${k}`).join(', ')}`)
      }
      if (type === 'string' && !arg.includes('=')) {
        if (argv[i + 1] === undefined) throw new UsageError(`option --${flag} needs a value`)
        i++
      }
    } else positionals++
  }
  if (positionals > 1) {
    // `npm create smap-driver x --package-name p`: npm took the flag and left its value
    const npm = npmInit ? `; ${afterDashes()}` : ''
    throw new UsageError(`expected one NAME, got ${positionals} arguments: ${argv.filter((a) => !a.startsWith('-')).join(' ')}${npm}`)
  }
}

/** Asks for what the flags left out, again until an answer passes the checks. */
async function ask(given: CreateDriverOptions, stdin: Readable, stdout: Writable, cwd: string): Promise<CreateDriverOptions> {
  // the line iterator buffers, so answers typed (or piped) ahead of their question are kept
  const rl = createInterface({ input: stdin, terminal: false })
  const lines = rl[Symbol.asyncIterator]()
  const question = async (label: string, fallback: string, check: (value: string) => void): Promise<string> => {
    for (;;) {
      stdout.write(`${label}${fallback === '' ? '' : ` (${fallback})`}: `)
      const next = await lines.next()
      if (next.done === true) throw new CreateError('SMAP_CREATE_ABORTED', 'input ended before every question was answered; pass --yes to take the defaults')
      const value = (next.value as string).trim() || fallback
      try {
        check(value)
        return value
      } catch (err) {
        if (!(err instanceof CreateError)) throw err
        stdout.write(`  ${err.message}\n`)
      }
    }
  }
  const out = { ...given }
  try {
    if (out.name === '') out.name = await question('Driver name, also its directory', 'my-meter', checkDriverName)
    else checkDriverName(out.name)
    // before more questions: a directory in the way is the one mistake an answer cannot fix
    await checkTarget(resolve(cwd, out.name), cwd, out.force ?? false)
    out.packageName ??= await question('Package name', defaultPackageName(out.name), checkPackageName)
    out.description ??= await question('Description', defaultDescription(out.name), (v) => checkLine('description', v))
    out.author ??= await question('Author', '', (v) => checkLine('author', v))
    out.license ??= await question('License', 'MIT', checkLicense)
    out.repository ??= await question('Repository (OWNER/REPO or URL; empty to add it later)', '', (v) => v === '' || repositoryFields(v))
  } finally {
    rl.close()
  }
  return out
}
