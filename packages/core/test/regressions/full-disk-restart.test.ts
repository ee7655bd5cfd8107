import { execFileSync } from 'node:child_process'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { Outbox, type OutboxEntry } from '../../src/reporting/outbox.js'
import { canMount } from '../_mount.js'

// what the outbox says: a test that expects no line checks `lines`
const lines: string[] = []
const logger = { info: () => {}, warn: (m: string) => void lines.push(m), error: (m: string) => void lines.push(m) }
const entries = (from: number, n: number, path = '/a'): OutboxEntry[] => [{ p: path, u: 'u', r: Array.from({ length: n }, (_, k) => [1000 + from + k, from + k]) }]

it.skipIf(!canMount)('what was delivered from a segment opened on a full disk does not come back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smap-full-restart-'))
  const mnt = join(dir, 'mnt')
  execFileSync('mkdir', ['-p', mnt])
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k', 'tmpfs', mnt])
  try {
    const box = join(mnt, 'outbox')
    const a = await Outbox.open(box, { logger })
    for (let i = 0; i < 80; i++) await a.append(entries(i * 100, 100))
    // the disk fills up: less free space than the segment takes
    let k = 0
    try { for (;;) await writeFile(join(mnt, `fill${k++}`), Buffer.alloc(16 * 1024)) } catch {
      // full: that is the point
    }
    for (let j = 1; j <= 3; j++) await rm(join(mnt, `fill${k - 1 - j}`)) // ~48 KB free
    const b = await Outbox.open(box, { logger })
    for (;;) { const l = await b.take(10_000, 'r'); if (l.count === 0) break; l.ack(); l.release() }
    await b.settled()
    // space comes back; the next start
    for (const f of await readdir(mnt)) if (f.startsWith('fill') || f === 'last') await rm(join(mnt, f))
    const c = await Outbox.open(box, { logger })
    expect(c.restored).toBe(0)
  } finally {
    execFileSync('umount', ['-l', mnt])
    await rm(dir, { recursive: true, force: true })
  }
})
