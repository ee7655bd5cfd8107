import { request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serve, SmapInstance, type Logger } from '../src/index.js'
import { jsonPieces } from '../src/http/json-stream.js'

// GET /data/+ and /status write their bodies in pieces, with turns of the event loop between them,
// so a big tree is neither built whole in memory nor serialized in one step that stalls the source.

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} }

describe('jsonPieces', () => {
  it('joins to exactly what JSON.stringify writes', () => {
    const big = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`/s${i}`, { n: i, skip: undefined, f: () => 1 }]))
    const values: unknown[] = [
      { a: 1, b: [1, 2, 3], c: { d: 'x', e: null } },
      { reports: { r1: { channels: [{ dropped: { total: 3, perStream: big } }] } }, at: new Date(0) },
      Array.from({ length: 200 }, (_, i) => (i % 7 === 0 ? undefined : i % 5 === 0 ? Number.NaN : { i, s: `q"${i}\n` })),
      big,
      [],
      {},
      'text',
      42,
      null,
      { toJSON: () => ({ made: Array.from({ length: 100 }, (_, i) => i) }) },
    ]
    for (const v of values) expect([...jsonPieces(v)].join('')).toBe(JSON.stringify(v))
  })
})

describe('big bodies over HTTP', () => {
  const inst = new SmapInstance(ROOT, { logger: quiet })
  let server: Awaited<ReturnType<typeof serve>>
  const N = 30_000
  beforeAll(async () => {
    for (let c = 0; c < 3; c++) for (let s = 0; s < N / 3; s++) inst.addTimeseries(`/c${c}/s${s}`, { unit: 'kW', readingType: 'double', description: `meter ${c} point ${s}` })
    for (let c = 0; c < 3; c++) for (let s = 0; s < N / 3; s++) inst.add(`/c${c}/s${s}`, 1_700_000_000_000, c * 1000 + s + 0.5)
    server = await serve(inst, { port: 0, host: '127.0.0.1' })
  })
  afterAll(async () => {
    await server.close()
  })

  /** A GET whose body is read only after `hold` resolves (a slow client), with the pieces it came in. */
  function get(path: string, hold: Promise<void> = Promise.resolve()): Promise<{ status: number; headers: Record<string, unknown>; pieces: Buffer[] }> {
    return new Promise((resolve, reject) => {
      const req = request(`${server.url}${path}`, (res) => {
        res.pause()
        const pieces: Buffer[] = []
        void hold.then(() => {
          res.on('data', (b: Buffer) => pieces.push(b))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, pieces }))
          res.resume()
        })
      })
      req.on('error', reject)
      req.end()
    })
  }

  it('GET /data/+ streams the whole tree, and the source answers other requests while a client reads it slowly', async () => {
    let release: () => void = () => {}
    const held = new Promise<void>((r) => (release = r))
    const last = inst.getTimeseries(`/c2/s${N / 3 - 1}`) as NonNullable<ReturnType<typeof inst.getTimeseries>>
    let lastWritten = false
    const toJSON = last.toJSON.bind(last)
    last.toJSON = () => {
      lastWritten = true
      return toJSON()
    }
    const slow = get('/data/+', held)
    const other = await get('/data/c1/s7')
    expect(other.status).toBe(200)
    expect(JSON.parse(Buffer.concat(other.pieces).toString()).Readings).toEqual([[1_700_000_000_000, 1007.5]])
    await new Promise((r) => setTimeout(r, 200))
    // the first client has not read a byte: the body is written as it reads, not built whole beforehand
    expect(lastWritten).toBe(false)
    release()
    const whole = await slow
    expect(whole.status).toBe(200)
    expect(whole.headers['content-type']).toMatch(/application\/json/)
    expect(whole.headers['transfer-encoding']).toBe('chunked')
    const text = Buffer.concat(whole.pieces).toString()
    expect(text.length).toBeGreaterThan(6_000_000)
    const expected: Record<string, unknown> = {}
    for (const r of inst.tree.resources('/')) expected[r.path] = r.toJSON()
    expect(JSON.parse(text)).toEqual(expected)
  })

  it('GET /data/PATH/+ is the subtree, paths relative to it', async () => {
    const res = await get('/data/c2/+')
    const body = JSON.parse(Buffer.concat(res.pieces).toString()) as Record<string, { Readings?: unknown }>
    expect(Object.keys(body)).toHaveLength(N / 3 + 1)
    expect(body['/s5']?.Readings).toEqual([[1_700_000_000_000, 2005.5]])
  })

  it('GET /status is streamed and is the same document', async () => {
    const res = await get('/status')
    expect(res.headers['transfer-encoding']).toBe('chunked')
    const body = JSON.parse(Buffer.concat(res.pieces).toString()) as Record<string, unknown>
    expect(Object.keys(body)).toEqual([...Object.keys(await inst.status()), 'events'])
  })
})
