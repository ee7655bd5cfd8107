import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The built `smap` binary (the test command builds before testing). */
export const SMAP_BIN = fileURLToPath(new URL('../packages/cli/bin/smap.js', import.meta.url))

export interface Running {
  child: ChildProcess
  output: () => string
  /** Resolves with the first match of `re` in stdout+stderr. */
  waitFor: (re: RegExp, ms?: number) => Promise<RegExpMatchArray>
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>
}

/** Starts `node FILE ...args` and collects its output; killed at test end by the caller. */
export function start(file: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Running {
  const child = spawn(process.execPath, [file, ...args], {
    cwd: options.cwd,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const waiters: Array<() => void> = []
  const onData = (d: Buffer): void => {
    out += d.toString()
    for (const w of waiters.splice(0)) w()
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  const waitFor = (re: RegExp, ms = 15_000): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} in output:\n${out}`)), ms)
      const check = (): void => {
        const m = out.match(re)
        if (m) {
          clearTimeout(timer)
          resolve(m)
        } else if (child.exitCode !== null) {
          clearTimeout(timer)
          reject(new Error(`process exited (${child.exitCode}) before printing ${re}; output:\n${out}`))
        } else waiters.push(check)
      }
      check()
      void exited.then(() => waiters.length > 0 && check())
    })
  return { child, output: () => out, waitFor, exited }
}

/** Runs `smap ...args` to completion. */
export async function runSmap(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number | string; output: string }> {
  const p = start(SMAP_BIN, args, options)
  const code = await p.exited
  return { code, output: p.output() }
}
