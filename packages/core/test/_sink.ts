import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'

/** What the sink does with one request (n counts requests from 0). */
export type SinkAction =
  | 'ok'
  | { status: number; headers?: Record<string, string>; body?: string }
  | 'reset'
  | { delayMs: number; then?: SinkAction }

export interface Received {
  batchId: string | undefined
  encoding: string | undefined
  body: Record<string, { uuid?: string; Properties?: Record<string, string>; Metadata?: unknown; Contents?: string[]; Readings?: Array<[number, number]> }>
}

/** A real HTTP receiver on loopback whose answers a test scripts; it records what it acknowledged. */
export interface Sink {
  url: string
  port: number
  /** Payloads it answered 2xx to, in order. */
  accepted: Received[]
  /** Every request it saw (accepted or not). */
  seen: Received[]
  behave: (fn: (req: Received, n: number) => SinkAction) => void
  /** Stops listening (connections are refused) until `up()`. */
  down: () => Promise<void>
  up: () => Promise<void>
  close: () => Promise<void>
  /** Values per stream path over accepted payloads, in order. */
  values: (path: string) => number[]
  /** The same, counting each batch id once, as a receiver that drops duplicate batches would. */
  uniqueValues: (path: string) => number[]
}

export async function startSink(port = 0): Promise<Sink> {
  let behaviour: (req: Received, n: number) => SinkAction = () => 'ok'
  let n = 0
  const accepted: Received[] = []
  const seen: Received[] = []
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    let raw = Buffer.concat(chunks)
    const encoding = req.headers['content-encoding']
    if (encoding === 'gzip') raw = gunzipSync(raw)
    const got: Received = { batchId: req.headers['x-smap-batch-id'] as string | undefined, encoding, body: JSON.parse(raw.toString() || '{}') }
    seen.push(got)
    let action = behaviour(got, n++)
    while (typeof action === 'object' && 'delayMs' in action) {
      const a: { delayMs: number; then?: SinkAction } = action
      await new Promise((r) => setTimeout(r, a.delayMs))
      action = a.then ?? 'ok'
    }
    if (action === 'reset') {
      req.socket.destroy()
      return
    }
    if (action === 'ok') {
      accepted.push(got)
      res.writeHead(200).end()
      return
    }
    if (action.status >= 200 && action.status < 300) accepted.push(got)
    res.writeHead(action.status, action.headers).end(action.body ?? '')
  }
  let server: Server | undefined
  const listen = (p: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()))
      server.keepAliveTimeout = 100
      server.once('error', reject)
      server.listen(p, '127.0.0.1', () => resolve((server?.address() as AddressInfo).port))
    })
  const actual = await listen(port)
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      if (!server) return resolve()
      server.close(() => resolve())
      server.closeAllConnections()
      server = undefined
    })
  return {
    url: `http://127.0.0.1:${actual}/add`,
    port: actual,
    accepted,
    seen,
    behave: (fn) => {
      behaviour = fn
    },
    down: stop,
    up: async () => {
      await listen(actual)
    },
    close: stop,
    values: (path) => accepted.flatMap((r) => (r.body[path]?.Readings ?? []).map(([, v]) => v)),
    uniqueValues: (path) => accepted.filter((r, i) => r.batchId === undefined || accepted.findIndex((o) => o.batchId === r.batchId) === i).flatMap((r) => (r.body[path]?.Readings ?? []).map(([, v]) => v)),
  }
}
