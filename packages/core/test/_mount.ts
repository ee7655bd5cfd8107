import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
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

/** Runs `fn` with a fresh tmpfs of `size` (such as `256k`) mounted at the directory it is given; unmounts and removes it after. */
export async function withTmpfs(size: string, fn: (mnt: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'smap-tmpfs-'))
  const mnt = join(dir, 'mnt')
  execFileSync('mkdir', ['-p', mnt])
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt])
  try {
    await fn(mnt)
  } finally {
    execFileSync('umount', ['-l', mnt])
    await rm(dir, { recursive: true, force: true })
  }
}
