import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync, inflateSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { backoffDelay } from '../../src/reporting/backoff.js'
import { createDeliveryAgent, type Resolver } from '../../src/reporting/transports/connect-guard.js'
import { BATCH_ID_HEADER, parseRetryAfter, postReport } from '../../src/reporting/transports/http.js'

// A real receiver on loopback whose answer each test chooses by path.
type Answer = (req: IncomingMessage, body: Buffer, res: ServerResponse) => void
const answers = new Map<string, Answer>()
let server: Server
let base: string
const received: Array<{ path: string; headers: IncomingMessage['headers']; body: Buffer }> = []

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      received.push({ path: req.url ?? '', headers: req.headers, body })
      const answer = answers.get(req.url ?? '')
      if (answer) answer(req, body, res)
      else res.writeHead(200).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
})

const post = (path: string, answer: Answer, options: { compress?: 'none' | 'gzip' | 'legacy'; timeoutMs?: number } = {}) => {
  answers.set(path, answer)
  return postReport(`${base}${path}`, '{"/s":{"uuid":"u","Readings":[[1,2]]}}', { compress: options.compress ?? 'none', timeoutMs: options.timeoutMs ?? 2000, batchId: `batch${path}` })
}

describe('postReport', () => {
  it('counts 200, 201 and 204 as acknowledged, and sends the batch id', async () => {
    for (const status of [200, 201, 204]) expect(await post(`/ok${status}`, (_q, _b, res) => res.writeHead(status).end())).toEqual({ kind: 'ok', status })
    const last = received.at(-1)
    expect(last?.headers[BATCH_ID_HEADER.toLowerCase()]).toBe('batch/ok204')
    expect(last?.headers['content-type']).toBe('application/json')
    expect(JSON.parse(String(last?.body))).toEqual({ '/s': { uuid: 'u', Readings: [[1, 2]] } })
  })

  it('sends zlib labelled gzip for original archivers (legacy-gzip-json), as the original sMAP did', async () => {
    expect(await post('/legacy', (_q, _b, res) => res.writeHead(200).end(), { compress: 'legacy' })).toEqual({ kind: 'ok', status: 200 })
    const last = received.at(-1)
    expect(last?.headers['content-encoding']).toBe('gzip')
    // what the original archiver does: zlib.decompress on a body labelled gzip
    expect(JSON.parse(inflateSync(last?.body as Buffer).toString())).toEqual({ '/s': { uuid: 'u', Readings: [[1, 2]] } })
    expect(() => gunzipSync(last?.body as Buffer)).toThrow()
  })

  it('compresses with gzip when asked, saying so in Content-Encoding', async () => {
    expect(await post('/gz', (_q, _b, res) => res.writeHead(200).end(), { compress: 'gzip' })).toEqual({ kind: 'ok', status: 200 })
    const last = received.at(-1)
    expect(last?.headers['content-encoding']).toBe('gzip')
    expect(JSON.parse(gunzipSync(last?.body as Buffer).toString())).toEqual({ '/s': { uuid: 'u', Readings: [[1, 2]] } })
  })

  it('retries a server error, 408 and 429, with the Retry-After it was given', async () => {
    expect(await post('/500', (_q, _b, res) => res.writeHead(500, 'Internal Server Error').end('database is down\nstack...'))).toEqual({
      kind: 'retry',
      status: 500,
      retryAfterMs: undefined,
      error: `${base}/500 answered 500 Internal Server Error: database is down`,
    })
    expect(await post('/429', (_q, _b, res) => res.writeHead(429, { 'Retry-After': '7' }).end())).toMatchObject({ kind: 'retry', status: 429, retryAfterMs: 7000 })
    expect(await post('/408', (_q, _b, res) => res.writeHead(408).end())).toMatchObject({ kind: 'retry', status: 408 })
  })

  it('splits on 413 and rejects any other 4xx for good, quoting the first line of the answer (at most 200 characters)', async () => {
    expect(await post('/413', (_q, _b, res) => res.writeHead(413).end())).toMatchObject({ kind: 'split', status: 413 })
    const long = 'x'.repeat(300)
    const rejected = await post('/400', (_q, _b, res) => res.writeHead(400, 'Bad Request').end(long))
    expect(rejected).toEqual({ kind: 'reject', status: 400, error: `${base}/400 answered 400 Bad Request: ${'x'.repeat(200)}…` })
  })

  it('does not follow a redirect, and says to fix the location', async () => {
    expect(await post('/moved', (_q, _b, res) => res.writeHead(301, { Location: '/elsewhere' }).end())).toEqual({
      kind: 'retry',
      status: 301,
      error: `${base}/moved answered 301 redirecting to /elsewhere; redirects are not followed, fix the delivery location`,
    })
  })

  it('retries a receiver that is not running, or too slow, saying which', async () => {
    const closed = createServer()
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r))
    const port = (closed.address() as AddressInfo).port
    await new Promise((r) => closed.close(r))
    expect(await postReport(`http://127.0.0.1:${port}/add`, '{}', { compress: 'none', timeoutMs: 1000, batchId: 'b' })).toEqual({
      kind: 'retry',
      error: `http://127.0.0.1:${port}/add: connection refused (is the receiver running?)`,
    })
    const slow = await post('/slow', (_q, _b, res) => setTimeout(() => res.writeHead(200).end(), 1500), { timeoutMs: 200 })
    expect(slow).toEqual({ kind: 'retry', error: `${base}/slow: no answer within 0.2 s` })
  })

  it('gives up at its timeout also when it is given a signal of its own (the channel always gives one)', async () => {
    answers.set('/slow-signal', (_q, _b, res) => setTimeout(() => res.writeHead(200).end(), 1500))
    const t = Date.now()
    const outcome = await postReport(`${base}/slow-signal`, '{}', { compress: 'none', timeoutMs: 200, batchId: 'b', signal: new AbortController().signal })
    expect(outcome).toEqual({ kind: 'retry', error: `${base}/slow-signal: no answer within 0.2 s` })
    expect(Date.now() - t).toBeLessThan(1000)
    // and the signal still ends it at once
    const stop = new AbortController()
    setTimeout(() => stop.abort(), 50)
    expect((await postReport(`${base}/slow-signal`, '{}', { compress: 'none', timeoutMs: 5000, batchId: 'b', signal: stop.signal })).kind).toBe('retry')
  })
})

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and ignores what is neither', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    expect(parseRetryAfter('120', now)).toBe(120_000)
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000)
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0)
    expect(parseRetryAfter('soon', now)).toBeUndefined()
    expect(parseRetryAfter('', now)).toBeUndefined()
    expect(parseRetryAfter(null, now)).toBeUndefined()
  })
})

describe('backoffDelay', () => {
  it('doubles its ceiling with each attempt up to the cap, with full jitter', () => {
    expect(backoffDelay(0, 500, 60_000, () => 0.999)).toBeCloseTo(499.5)
    expect(backoffDelay(3, 500, 60_000, () => 0.5)).toBe(2000)
    expect(backoffDelay(20, 500, 60_000, () => 0.5)).toBe(30_000)
    expect(backoffDelay(5, 500, 60_000, () => 0)).toBe(0)
  })
})

describe('the delivery agent', () => {
  // names resolved the way a hostile DNS answer would: the check must be on the address connected to
  const names: Record<string, string[]> = { 'sink.test': ['127.0.0.1'], 'metadata.test': ['169.254.169.254'], 'mixed.test': ['127.0.0.1', 'fe80::1'], 'nat64.test': ['64:ff9b::a9fe:a9fe'] }
  const resolve: Resolver = (hostname, _options, callback) => {
    const found = names[hostname]
    if (!found) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])
    callback(null, found.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })))
  }

  it('connects to what a name resolves to, unless that is link-local, however it is spelt', async () => {
    const agent = createDeliveryAgent({ resolve })
    const port = new URL(base).port
    try {
      const send = (host: string) => postReport(`http://${host}:${port}/agent`, '{}', { compress: 'none', timeoutMs: 2000, batchId: 'b', dispatcher: agent })
      expect(await send('sink.test')).toEqual({ kind: 'ok', status: 200 })
      expect(received.at(-1)?.path).toBe('/agent')
      const seen = received.length
      for (const [host, address] of [['metadata.test', '169.254.169.254'], ['mixed.test', 'fe80::1'], ['nat64.test', '64:ff9b::a9fe:a9fe']]) {
        expect(await send(host as string)).toEqual({
          kind: 'retry',
          error: `http://${host}:${port}/agent: ${host} resolves to ${address}, a link-local address (where cloud metadata services answer); set AllowLinkLocal = true in [server] if you mean it`,
        })
      }
      expect(received.length).toBe(seen)
    } finally {
      await agent.close()
    }
  })

  it('lets link-local addresses through when they are allowed', async () => {
    const agent = createDeliveryAgent({ allowLinkLocal: true })
    try {
      expect(await postReport(`${base}/allowed`, '{}', { compress: 'none', timeoutMs: 2000, batchId: 'b', dispatcher: agent })).toEqual({ kind: 'ok', status: 200 })
    } finally {
      await agent.close()
    }
  })
})
