import { Writable } from 'node:stream'
import { runCli, type CliIo } from 'create-smap-driver'

/**
 * Runs the command with captured output, never interactive unless asked, and with an empty
 * environment unless given one (so the runner's own npm_* variables never look like `npm create`).
 */
export async function cli(argv: string[], io: CliIo = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' }
  const sink = (key: 'stdout' | 'stderr'): Writable =>
    new Writable({
      write(chunk, _enc, done) {
        out[key] += String(chunk)
        done()
      },
    })
  const code = await runCli(argv, { interactive: false, env: {}, ...io, stdout: sink('stdout'), stderr: sink('stderr') })
  return { code, ...out }
}
