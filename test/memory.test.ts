import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

// A backlog of three million readings drains under a 256 MB heap, before and
// after a restart: undelivered readings live on disk, and memory holds a
// bounded window of them. Held parsed in memory they took about 100 bytes each
// after GC: 300 MB for three million, and the process ran out of heap).

const SOURCE = fileURLToPath(new URL('./fixtures/backlog/source.js', import.meta.url))
const N = 3_000_000
const HEAP_MB = 256

interface Figures {
  backlog: number
  delivered: number
  restored: number
  dropped: number
  peakHeapMiB: number
  logged: string[]
}

/** A subscriber that refuses with 503 until it is told to accept, and marks each reading's value. */
class Sink {
  accepting = false
  readonly seen = new Uint8Array(N)
  distinct = 0
  readonly server: Server = createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (d: Buffer) => parts.push(d))
    req.on('end', () => {
      if (!this.accepting) {
        res.writeHead(503).end()
        return
      }
      const body = JSON.parse(Buffer.concat(parts).toString()) as Record<string, { Readings?: Array<[number, number]> }>
      for (const s of Object.values(body)) {
        for (const [, v] of s.Readings ?? []) {
          if (this.seen[v] === 0) this.distinct++
          this.seen[v] = 1
        }
      }
      res.writeHead(200).end()
    })
  })
  url = ''
  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/add`
  }
}

/** Runs the source with a capped heap; `onLine` sees its stdout lines as they come. */
function runSource(args: string[], onLine: (line: string) => void = () => {}): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${HEAP_MB}`, SOURCE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => {
      const before = out.length
      out += d.toString()
      for (const line of out.slice(out.lastIndexOf('\n', before) + 1).split('\n').slice(0, -1)) onLine(line)
    })
    child.stderr.on('data', (d: Buffer) => (err += d.toString()))
    child.on('exit', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? ''
      if (code !== 0) reject(new Error(`the source exited with ${code ?? signal}:\n${err.slice(-2000)}`))
      else resolve(JSON.parse(last) as Figures)
    })
  })
}

describe(`a backlog of ${N.toLocaleString('en')} readings under a ${HEAP_MB} MB heap`, () => {
  let dir: string
  let sink: Sink
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-memory-'))
    sink = new Sink()
    await sink.listen()
  })
  afterEach(async () => {
    sink.server.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('drains when the subscriber comes back', { timeout: 180_000 }, async () => {
    const f = await runSource([dir, sink.url, 'both', String(N)], (line) => {
      if (line === 'filled') sink.accepting = true
    })
    expect(f).toMatchObject({ backlog: 0, delivered: N, dropped: 0, logged: [] })
    expect(sink.distinct).toBe(N)
    expect(f.peakHeapMiB).toBeLessThan(HEAP_MB)
  })

  it('drains after a restart', { timeout: 180_000 }, async () => {
    const filled = await runSource([dir, sink.url, 'fill', String(N)])
    expect(filled).toMatchObject({ backlog: N, delivered: 0, dropped: 0 })
    sink.accepting = true
    const f = await runSource([dir, sink.url, 'drain', String(N)])
    expect(f).toMatchObject({ backlog: 0, delivered: N, restored: N, dropped: 0, logged: [] })
    expect(sink.distinct).toBe(N)
  })
})
