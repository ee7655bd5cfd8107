import { mkdir, symlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { vi } from 'vitest'
import { runCli } from '@smap/cli'

/** Runs the `smap` command in this process (in `cwd` when given), collecting what it writes. */
export async function cli(argv: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true))
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true))
  const was = process.cwd()
  if (cwd !== undefined) process.chdir(cwd)
  try {
    return { code: await runCli(argv), stdout, stderr }
  } finally {
    process.chdir(was)
    out.mockRestore()
    err.mockRestore()
  }
}

/** Links `node_modules/<name>` in `dir` to `target`, as an install would place it. */
export async function link(dir: string, name: string, target: string): Promise<void> {
  const path = join(dir, 'node_modules', name)
  await mkdir(dirname(path), { recursive: true })
  await symlink(target, path, 'junction')
}
