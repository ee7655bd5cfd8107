import { spawn } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

// The workspace's published packages as the release ships them: found from
// packages/*/package.json (everything not private), packed with the
// workspace's own pnpm, so `workspace:` ranges are rewritten and
// publishConfig applied exactly as `pnpm publish` does.

export const ROOT_DIR = fileURLToPath(new URL('..', import.meta.url))
/** The workspace's pinned pnpm (a root devDependency), run with this Node. */
export const PNPM = join(ROOT_DIR, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs')

export interface PublicPackage {
  name: string
  version: string
  /** e.g. packages/sdk */
  dir: string
  manifest: Record<string, unknown>
}

/** Every package under packages/ that is not private, in a stable order. */
export async function publicPackages(): Promise<PublicPackage[]> {
  const found: PublicPackage[] = []
  for (const entry of (await readdir(join(ROOT_DIR, 'packages'))).sort()) {
    const manifest = JSON.parse(await readFile(join(ROOT_DIR, 'packages', entry, 'package.json'), 'utf8')) as Record<string, unknown>
    if (manifest.private === true) continue
    found.push({ name: manifest.name as string, version: manifest.version as string, dir: `packages/${entry}`, manifest })
  }
  return found
}

export interface Result {
  code: number | string
  output: string
}

/** Runs `command ...args` to completion, collecting stdout and stderr together; never throws on a failing exit. */
export function run(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeout?: number }): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const timer = setTimeout(() => {
      output += `\n[killed after ${options.timeout} ms]`
      child.kill('SIGKILL')
    }, options.timeout ?? 180_000)
    child.on('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? signal ?? -1, output })
    })
  })
}

/** Like run, but fails with the command, folder and output unless it exits 0. */
export async function ok(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeout?: number }): Promise<string> {
  const result = await run(command, args, options)
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.code} in ${options.cwd}:\n${result.output}`)
  return result.output
}

/**
 * Packs `pkg` into `destination` and returns the tarball's path. The test
 * command has built every package already, so lifecycle scripts are skipped
 * here: a prepack `tsup` would rebuild dist/ under other tests that read it.
 */
export async function pack(pkg: PublicPackage, destination: string, env: NodeJS.ProcessEnv): Promise<string> {
  const output = await ok(process.execPath, [PNPM, 'pack', '--pack-destination', destination], {
    cwd: join(ROOT_DIR, pkg.dir),
    env: { ...env, npm_config_ignore_scripts: 'true' },
  })
  const tarball = output.trim().split('\n').pop()?.trim() as string
  if (!tarball.endsWith('.tgz')) throw new Error(`pnpm pack in ${pkg.dir} printed no tarball:\n${output}`)
  return tarball
}
