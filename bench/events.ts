// What an open event stream (GET /events) costs the server: 10,000 streams at
// 1 Hz, the server's CPU per second with 0, 1 and 10 clients following /+ and
// following one small subtree (100 streams), against the no-client baseline
// measured in the same run. Prints, asserts nothing.
// Run from the repository root: npx tsx --conditions=@smap/source bench/events.ts
//
// The server runs alone in a child process; the clients (this process) read
// every byte with fetch and a streaming body reader, as a page would.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { serve, SmapInstance } from '@smap/core'
import { median } from './_stats.js'

const COLLECTIONS = 100
const PER_COLLECTION = 100
const STREAMS = COLLECTIONS * PER_COLLECTION
/** Readings are added in slices this often, so that each stream gets one a second. */
const SLICE_MS = 100
const SETTLE_MS = 2000
const ROUND_MS = 5000
const ROUNDS = 3
const HOST = '127.0.0.1'

type ToChild = { type: 'usage' }
type FromChild = { type: 'ready'; url: string } | { type: 'usage'; micros: number; at: number }

// ---- child: the server ----

async function runServer(): Promise<void> {
  const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92', { logger: { info: () => {}, warn: () => {}, error: () => {} } })
  const paths: string[] = []
  for (let c = 0; c < COLLECTIONS; c++) for (let s = 0; s < PER_COLLECTION; s++) paths.push(`/b${c}/s${s}`)
  for (const p of paths) inst.addTimeseries(p, { unit: 'V', readingType: 'double' })
  const streams = paths.map((p) => inst.getTimeseries(p) as NonNullable<ReturnType<typeof inst.getTimeseries>>)
  const server = await serve(inst, { port: 0, host: HOST })
  const perSlice = STREAMS / (1000 / SLICE_MS)
  let next = 0
  setInterval(() => {
    const now = Date.now()
    for (let k = 0; k < perSlice; k++) {
      ;(streams[next] as { addAt(t: number, v: number): void }).addAt(now, Math.round(Math.random() * 10_000) / 100)
      next = next + 1 === STREAMS ? 0 : next + 1
    }
  }, SLICE_MS)
  process.on('message', (m: ToChild) => {
    if (m.type !== 'usage') return
    const { user, system } = process.cpuUsage()
    process.send?.({ type: 'usage', micros: user + system, at: performance.now() } satisfies FromChild)
  })
  process.send?.({ type: 'ready', url: server.url } satisfies FromChild)
}

// ---- parent: the clients ----

function nextMessage<T extends FromChild['type']>(child: ChildProcess, type: T): Promise<Extract<FromChild, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromChild): void => {
      if (m.type !== type) return
      cleanup()
      resolve(m as Extract<FromChild, { type: T }>)
    }
    const onExit = (code: number | null): void => {
      cleanup()
      reject(new Error(`server process ${child.pid} exited (code ${code}) before sending "${type}"`))
    }
    const cleanup = (): void => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

async function usage(child: ChildProcess): Promise<{ micros: number; at: number }> {
  const reply = nextMessage(child, 'usage')
  child.send({ type: 'usage' } satisfies ToChild)
  return reply
}

/** An open event stream that reads and counts everything. */
interface Reader {
  bytes: number
  readings: number
  close(): Promise<void>
}

async function follow(url: string, resource: string): Promise<Reader> {
  const abort = new AbortController()
  const res = await fetch(`${url}/events?resource=${encodeURIComponent(resource)}`, { signal: abort.signal })
  if (res.status !== 200 || !res.body) throw new Error(`GET /events?resource=${resource}: ${res.status} ${await res.text()}`)
  const reader = res.body.getReader()
  const out: Reader = { bytes: 0, readings: 0, close: async () => {} }
  const decoder = new TextDecoder()
  const done = (async () => {
    try {
      for (;;) {
        const { done: end, value } = await reader.read()
        if (end) break
        out.bytes += value.byteLength
        // a cheap count of readings: each is one "[t,v]" pair
        out.readings += (decoder.decode(value).match(/\[\d+,/g) ?? []).length
      }
    } catch {
      // closed by us
    }
  })()
  out.close = async () => {
    abort.abort()
    await done
  }
  return out
}

interface Config {
  name: string
  clients: number
  resource: string
}

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['server'], { execArgv: process.execArgv })
  try {
    const { url } = await nextMessage(child, 'ready')
    const configs: Config[] = [
      { name: 'no client', clients: 0, resource: '/+' },
      { name: '1 client, /+', clients: 1, resource: '/+' },
      { name: '10 clients, /+', clients: 10, resource: '/+' },
      { name: '1 client, /b7/+', clients: 1, resource: '/b7/+' },
      { name: '10 clients, /b7/+', clients: 10, resource: '/b7/+' },
    ]
    const cpu = new Map<string, number[]>(configs.map((c) => [c.name, []]))
    const rates = new Map<string, number[]>(configs.map((c) => [c.name, []]))
    console.log(`events: ${STREAMS} streams at 1 Hz (${STREAMS / (1000 / SLICE_MS)} readings every ${SLICE_MS} ms); ${ROUNDS} rounds of ${ROUND_MS / 1000} s per setting, after ${SETTLE_MS / 1000} s with the clients open; the server in its own process`)
    await new Promise((r) => setTimeout(r, SETTLE_MS))
    for (let round = 0; round < ROUNDS; round++) {
      // each round in another order, so no setting always follows the same one
      const order = configs.map((_, i) => configs[(i + round) % configs.length] as Config)
      const parts: string[] = []
      for (const c of order) {
        const readers = await Promise.all(Array.from({ length: c.clients }, () => follow(url, c.resource)))
        await new Promise((r) => setTimeout(r, SETTLE_MS))
        const before = await usage(child)
        const counted = readers.map((r) => r.readings)
        await new Promise((r) => setTimeout(r, ROUND_MS))
        const after = await usage(child)
        const seconds = (after.at - before.at) / 1000
        const share = (after.micros - before.micros) / 1e6 / seconds
        const perClient = readers.length === 0 ? 0 : readers.reduce((sum, r, i) => sum + r.readings - (counted[i] as number), 0) / readers.length / seconds
        await Promise.all(readers.map((r) => r.close()))
        cpu.get(c.name)?.push(share)
        rates.get(c.name)?.push(perClient)
        parts.push(`${c.name} ${(share * 1000).toFixed(0)} ms CPU/s`)
      }
      console.log(`  round ${round + 1}: ${parts.join('; ')}`)
    }
    const base = median(cpu.get('no client') ?? [])
    console.log('server CPU per second (median of rounds), and against the no-client baseline:')
    for (const c of configs) {
      const m = median(cpu.get(c.name) ?? [])
      const r = median(rates.get(c.name) ?? [])
      const extra = c.clients === 0 ? '' : `; +${((m - base) * 1000).toFixed(0)} ms/s, ${((m - base) * 1000 / c.clients).toFixed(1)} ms/s per client; each client got ${r.toFixed(0)} readings/s`
      console.log(`  ${c.name.padEnd(18)} ${(m * 1000).toFixed(0).padStart(4)} ms CPU/s (${(m * 100).toFixed(1)}% of a core), ${(m / base).toFixed(2)}x baseline${extra}`)
    }
  } finally {
    child.kill()
  }
}

if (process.argv[2] === 'server') await runServer()
else await main()
