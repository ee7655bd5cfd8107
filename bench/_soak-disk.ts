// The disk side of bench/soak.ts: a small tmpfs for the source's DataDir, a
// ballast file that fills it until writes fail (ENOSPC), and the size of a
// directory tree as fs.stat sees it.
import { execFileSync } from 'node:child_process'
import { closeSync, openSync, rmSync, writeSync } from 'node:fs'
import { lstat, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** Mounts a tmpfs of `size` (e.g. `8m`) at `dir`; the reason if it cannot. */
export function mountTmpfs(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not root'
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' })
    return undefined
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string }
    return (e.stderr?.toString().trim() || e.message).split('\n')[0]
  }
}

/** Unmounts `dir` (lazily if it is busy); the reason if that fails too. */
export function unmount(dir: string): string | undefined {
  try {
    execFileSync('umount', [dir], { stdio: 'pipe' })
    return undefined
  } catch {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' })
      return undefined
    } catch (err) {
      return (err as Error).message.split('\n')[0]
    }
  }
}

const PIECES = [1 << 20, 64 << 10, 4 << 10, 512, 64, 8, 1].map((n) => Buffer.alloc(n, 0x61))

/**
 * A file that takes every free byte of its file system while it is held.
 * It never grows past `limitBytes` (the size of the tmpfs it is meant for),
 * so that it cannot fill another file system should the tmpfs be gone, and
 * once closed it writes nothing more.
 */
export class Ballast {
  readonly file: string
  readonly limitBytes: number
  #fd: number | undefined
  #closed = false
  bytes = 0

  constructor(file: string, limitBytes: number) {
    this.file = file
    this.limitBytes = limitBytes
  }

  get held(): boolean {
    return this.#fd !== undefined
  }

  /** Writes until the file system says ENOSPC, in smaller and smaller pieces; returns the bytes added (throws on any other error). */
  fill(): number {
    if (this.#closed) return 0
    this.#fd ??= openSync(this.file, 'a')
    let added = 0
    for (const piece of PIECES) {
      for (;;) {
        if (this.bytes + added + piece.length > this.limitBytes) break
        try {
          const n = writeSync(this.#fd, piece)
          added += n
          if (n < piece.length) break
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break
          throw err
        }
      }
    }
    this.bytes += added
    return added
  }

  /** Whether a one-byte write fails with ENOSPC now (without keeping the byte). */
  full(): boolean {
    if (this.#fd === undefined || this.bytes >= this.limitBytes) return false
    try {
      writeSync(this.#fd, PIECES[PIECES.length - 1] as Buffer)
      this.bytes++
      return false
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOSPC'
    }
  }

  release(): void {
    if (this.#fd !== undefined) closeSync(this.#fd)
    this.#fd = undefined
    this.bytes = 0
    rmSync(this.file, { force: true })
  }

  /** Releases it for good: nothing is written after this. */
  close(): void {
    this.#closed = true
    this.release()
  }
}

/** Total size of the regular files under `dir` (files that vanish meanwhile count as nothing). */
export async function treeBytes(dir: string): Promise<number> {
  let total = 0
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return 0
  }
  for (const name of names) {
    const p = join(dir, name)
    const st = await lstat(p).catch(() => undefined)
    if (!st) continue
    if (st.isDirectory()) total += await treeBytes(p)
    else if (st.isFile()) total += st.size
  }
  return total
}

/** Every file under `dir`, with its size, path relative to `dir`. */
export async function listTree(dir: string, prefix = ''): Promise<Array<{ path: string; bytes: number }>> {
  const out: Array<{ path: string; bytes: number }> = []
  const names = await readdir(dir).catch(() => [] as string[])
  for (const name of names.sort()) {
    const st = await lstat(join(dir, name)).catch(() => undefined)
    if (st?.isDirectory()) out.push(...(await listTree(join(dir, name), `${prefix}${name}/`)))
    else if (st) out.push({ path: `${prefix}${name}`, bytes: st.size })
  }
  return out
}

/**
 * The readings (`PATH SLOT`, the value being the slot) in outbox segment
 * files: NeDB's lines of chunk documents, whose readings are a JSON string
 * (`j`) or an array (`e`) of `{ p, r: [[t, v], ...] }`. Unreadable lines are skipped.
 */
export async function readingsInSegments(files: string[]): Promise<Set<string>> {
  const out = new Set<string>()
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '')
    for (const line of text.split('\n')) {
      let doc: { j?: unknown; e?: unknown }
      try {
        doc = JSON.parse(line) as { j?: unknown; e?: unknown }
      } catch {
        continue
      }
      let entries: unknown
      try {
        entries = typeof doc.j === 'string' ? JSON.parse(doc.j) : doc.e
      } catch {
        continue
      }
      if (!Array.isArray(entries)) continue
      for (const e of entries as Array<{ p?: unknown; r?: unknown }>) {
        if (typeof e.p !== 'string' || !Array.isArray(e.r)) continue
        for (const r of e.r as unknown[]) if (Array.isArray(r) && typeof r[1] === 'number') out.add(`${e.p} ${r[1]}`)
      }
    }
  }
  return out
}
