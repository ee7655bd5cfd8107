import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const exec = promisify(execFile)
const SMAP = fileURLToPath(new URL('../bin/smap.js', import.meta.url))
// a shell's environment, without the test runner's markers (citty drops colours under TEST or CI itself)
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(VITEST|TEST$|CI$|NO_COLOR$|FORCE_COLOR$)/.test(k)))

describe('smap --help', () => {
  it('is plain text when piped', async () => {
    for (const args of [['--help'], ['run', '--help']]) {
      const { stdout } = await exec(process.execPath, [SMAP, ...args], { env: { ...env, TERM: 'xterm-256color' } })
      expect(stdout, args.join(' ')).toContain('USAGE smap')
      expect(stdout, args.join(' ')).not.toContain('\u001b[')
      expect(stdout, args.join(' ')).not.toMatch(/ +$/m)
    }
  })
})
