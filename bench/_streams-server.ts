// The server bench/events.ts and bench/page.ts measure: COLLECTIONS × PER_COLLECTION streams
// (/b0/s0 ...) at 1 Hz, in a child process of its own, which reports its CPU when asked.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { serve, SmapInstance } from '@smap/core'
import { nextMessage } from './_report-ipc.js'

/** Readings are added in slices this often, so that each stream gets one a second. */
export const SLICE_MS = 100
const HOST = '127.0.0.1'

type ToChild = { type: 'usage' }
type FromChild = { type: 'ready'; url: string } | { type: 'usage'; micros: number; at: number }

export interface StreamsServer {
  url: string
  /** The server's CPU so far (µs) and when it said so (its performance.now()). */
  usage(): Promise<{ micros: number; at: number }>
  stop(): void
}

/** Forks the server and waits until it answers. */
export async function startStreamsServer(collections: number, perCollection: number): Promise<StreamsServer> {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['server', String(collections), String(perCollection)], { execArgv: process.execArgv })
  try {
    const { url } = await nextMessage<FromChild, 'ready'>(child, 'ready', 60_000, 'the streams server')
    return {
      url,
      usage: () => {
        const reply = nextMessage<FromChild, 'usage'>(child, 'usage', 10_000, 'the streams server')
        child.send({ type: 'usage' } satisfies ToChild)
        return reply
      },
      stop: () => child.kill(),
    }
  } catch (err) {
    child.kill()
    throw err
  }
}

async function runServer(collections: number, perCollection: number): Promise<void> {
  // the parent gone (killed, crashed): so is the server
  process.once('disconnect', () => process.exit(0))
  const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92', { logger: { info: () => {}, warn: () => {}, error: () => {} } })
  const paths: string[] = []
  for (let c = 0; c < collections; c++) for (let s = 0; s < perCollection; s++) paths.push(`/b${c}/s${s}`)
  for (const p of paths) inst.addTimeseries(p, { unit: 'V', readingType: 'double' })
  const streams = paths.map((p) => inst.getTimeseries(p) as NonNullable<ReturnType<typeof inst.getTimeseries>>)
  const server = await serve(inst, { port: 0, host: HOST })
  const perSlice = streams.length / (1000 / SLICE_MS)
  let next = 0
  setInterval(() => {
    const now = Date.now()
    for (let k = 0; k < perSlice; k++) {
      ;(streams[next] as { addAt(t: number, v: number): void }).addAt(now, Math.round(Math.random() * 10_000) / 100)
      next = next + 1 === streams.length ? 0 : next + 1
    }
  }, SLICE_MS)
  process.on('message', (m: ToChild) => {
    if (m.type !== 'usage') return
    const { user, system } = process.cpuUsage()
    process.send?.({ type: 'usage', micros: user + system, at: performance.now() } satisfies FromChild)
  })
  process.send?.({ type: 'ready', url: server.url } satisfies FromChild)
}

if (process.argv[2] === 'server') await runServer(Number(process.argv[3]), Number(process.argv[4]))
