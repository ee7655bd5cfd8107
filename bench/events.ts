// What an open event stream (GET /events) costs the server: 10,000 streams at
// 1 Hz, the server's CPU per second with 0, 1 and 10 clients following /+ and
// following one small subtree (100 streams), against the no-client baseline
// measured in the same run. Prints, asserts nothing.
// Run from the repository root: npx tsx --conditions=@smap/source bench/events.ts
//
// The server runs alone in a child process; the clients (this process) read
// every byte with fetch and a streaming body reader, as a page would.
import { median } from './_stats.js'
import { SLICE_MS, startStreamsServer } from './_streams-server.js'

const COLLECTIONS = 100
const PER_COLLECTION = 100
const STREAMS = COLLECTIONS * PER_COLLECTION
const SETTLE_MS = 2000
const ROUND_MS = 5000
const ROUNDS = 3

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
  const server = await startStreamsServer(COLLECTIONS, PER_COLLECTION)
  try {
    const { url } = server
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
        const before = await server.usage()
        const counted = readers.map((r) => r.readings)
        await new Promise((r) => setTimeout(r, ROUND_MS))
        const after = await server.usage()
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
    server.stop()
  }
}

await main()
