import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Whether this process may mount a tmpfs (root, and a sandbox that allows it): the full-disk tests need one. */
export const canMount = ((): boolean => {
  if (process.getuid?.() !== 0) return false
  const probe = join(tmpdir(), `smap-mount-probe-${process.pid}-${Math.random().toString(36).slice(2)}`)
  try {
    execFileSync('mkdir', ['-p', probe])
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'ignore' })
    execFileSync('umount', [probe], { stdio: 'ignore' })
    return true
  } catch {
    return false
  } finally {
    execFileSync('rm', ['-rf', probe])
  }
})()
