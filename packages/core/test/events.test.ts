import { request, type IncomingMessage } from 'node:http'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineDriver } from '@smap/sdk'
import { serve, SmapInstance, type Logger, type SmapServer } from '@smap/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openSse, parseEvents, type SseClient, type SseEvent } from './_sse.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} }
const until = async (check: () => boolean | Promise<boolean>, ms = 8000): Promise<void> => {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- events are checked field by field
const data = (e: SseEvent): any => JSON.parse(e.data)

describe('GET /events', () => {
  let dir: string
  let inst: SmapInstance
  let server: SmapServer
  const clients: SseClient[] = []
  const crash = { next: false }
  const status = async (): Promise<{ events: { open: number; dropped: number; limitBytes: number; peakBufferedBytes: number } }> => (await fetch(`${server.url}/status`)).json() as never
  const open = async (query: string): Promise<SseClient> => {
    const c = await openSse(`${server.url}/events${query}`)
    clients.push(c)
    return c
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-events-'))
    inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(dir, 'data') } })
    for (const p of ['/a/x', '/a/y', '/b/z']) inst.addTimeseries(p, { unit: 'V', readingType: 'double' })
    inst.addDriver('/dev', defineDriver({
      name: 'dev',
      setup(ctx) {
        ctx.addTimeseries('/t', { unit: 'C', readingType: 'double' })
      },
      start(ctx) {
        ctx.periodic(() => {
          if (crash.next) {
            crash.next = false
            throw new Error('the sensor went away')
          }
        }, 0.05)
      },
    }), {}, { backoffMs: 400, maxBackoffMs: 400 })
    server = await serve(inst, { port: 0, events: { tickMs: 50 } })
  })
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('says hello first, with the server time, what is followed, and retry', async () => {
    const before = Date.now()
    const c = await open('?resource=/a/%2B&resource=/b/z')
    expect(c.status).toBe(200)
    expect(c.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(c.headers.get('cache-control')).toContain('no-cache')
    const hello = await c.next((e) => e.event === 'hello')
    expect(c.events[0]).toBe(hello)
    expect(hello.retry).toBe(2000)
    const body = data(hello)
    expect(body).toMatchObject({ root: ROOT, resources: ['/a/+', '/b/z'], tickMs: 50, limitBytes: 1024 * 1024, drivers: {} })
    expect(body.time).toBeGreaterThanOrEqual(before)
    expect(body.time).toBeLessThanOrEqual(Date.now())
    // following / by default, it is told of every driver
    const all = await open('')
    expect(data(await all.next((e) => e.event === 'hello'))).toMatchObject({ resources: ['/+'], drivers: { '/dev': { state: 'running', disabled: false } } })
  })

  it('sends only the readings under its resources, coalesced per tick, in the report shape', async () => {
    const sub = await open('?resource=/a/%2B')
    const one = await open('?resource=/b/z&resource=/dev/t')
    await sub.next((e) => e.event === 'hello')
    await one.next((e) => e.event === 'hello')
    for (let i = 0; i < 40; i++) {
      inst.add('/a/x', 1000 + i, i)
      inst.add('/b/z', 1000 + i, -i)
    }
    inst.add('/a/y', 2000, 0.5)
    const got = data(await sub.next((e) => e.event === 'readings'))
    expect(Object.keys(got).sort()).toEqual(['/a/x', '/a/y'])
    expect(got['/a/x']).toEqual({ uuid: inst.getTimeseries('/a/x')?.uuid, Readings: Array.from({ length: 40 }, (_, i) => [1000 + i, i]) })
    expect(got['/a/y'].Readings).toEqual([[2000, 0.5]])
    const other = data(await one.next((e) => e.event === 'readings'))
    expect(Object.keys(other)).toEqual(['/b/z'])
    expect(other['/b/z'].Readings).toHaveLength(40)
    // one event for the whole burst, not one per reading
    await new Promise((r) => setTimeout(r, 200))
    expect(sub.events.filter((e) => e.event === 'readings')).toHaveLength(1)
    inst.add('/dev/t', 3000, 21.5)
    expect(data(await one.next((e) => e.event === 'readings', 5000, one.events.findIndex((e) => e.event === 'readings') + 1))).toEqual({ '/dev/t': { uuid: inst.getTimeseries('/dev/t')?.uuid, Readings: [[3000, 21.5]] } })
  })

  it("sends a driver's state changes, with restarts, last error and health", async () => {
    const c = await open('?resource=/dev/%2B')
    const elsewhere = await open('?resource=/a/%2B')
    await c.next((e) => e.event === 'hello')
    crash.next = true
    const backoff = data(await c.next((e) => e.event === 'drivers' && data(e).state === 'backoff'))
    expect(backoff).toMatchObject({ path: '/dev', driver: 'dev', restarts: 0, lastError: { message: 'the sensor went away', phase: 'poll' }, disabled: false })
    expect(data(await c.next((e) => e.event === 'drivers' && data(e).state === 'running'))).toMatchObject({ path: '/dev', restarts: 1 })
    await inst.setDriverEnabled('/dev', false)
    expect(data(await c.next((e) => e.event === 'drivers' && data(e).state === 'disabled'))).toMatchObject({ disabled: true })
    expect(elsewhere.events.filter((e) => e.event === 'drivers')).toEqual([])
  })

  it('leaves no listener behind when clients close', async () => {
    expect(inst.tree.listeners).toHaveLength(0)
    const a = await open('')
    const b = await open('?resource=/a/x')
    await a.next((e) => e.event === 'hello')
    await b.next((e) => e.event === 'hello')
    expect(inst.tree.listeners).toHaveLength(1)
    expect((await status()).events.open).toBe(2)
    a.close()
    await until(async () => (await status()).events.open === 1)
    expect(inst.tree.listeners).toHaveLength(1)
    b.close()
    await until(async () => (await status()).events.open === 0)
    expect(inst.tree.listeners).toHaveLength(0)
    // a client that closes was not dropped
    expect((await status()).events.dropped).toBe(0)
  })

  it('answers a bad resource with 400, a wrong method with 405 and Allow, HEAD without a stream', async () => {
    for (const bad of ['a/b', '/a/../b', '/a b', '/a/+/c']) {
      const res = await fetch(`${server.url}/events?resource=${encodeURIComponent(bad)}`)
      expect(res.status).toBe(400)
      expect(((await res.json()) as { error: string }).error).toMatch(/^resource=".*" is not a path: give a path like \/a\/b, or a subtree like \/a\/\+/)
    }
    const many = (n: number): string => `${server.url}/events?${Array.from({ length: n }, (_, i) => `resource=%2Fb${i}`).join('&')}`
    const tooMany = await fetch(many(257))
    expect(tooMany.status).toBe(400)
    expect(((await tooMany.json()) as { error: string }).error).toBe('at most 256 resource parameters, got 257; follow a common subtree (PATH/+) instead')
    const enough = await fetch(many(256), { method: 'HEAD' })
    expect(enough.status).toBe(200)
    const post = await fetch(`${server.url}/events`, { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    const head = await fetch(`${server.url}/events`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(head.headers.get('content-type')).toContain('text/event-stream')
    expect((await status()).events.open).toBe(0)
  })
})

describe('a client that falls behind', () => {
  let dir: string
  let server: SmapServer
  let inst: SmapInstance
  afterEach(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('is sent event: dropped and closed, and what it had unsent never passed the bound', async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-events-slow-'))
    inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(dir, 'data') } })
    const paths = Array.from({ length: 100 }, (_, i) => `/s/${i}`)
    for (const p of paths) inst.addTimeseries(p, { unit: 'V', readingType: 'double' })
    const limit = 256 * 1024
    server = await serve(inst, { port: 0, events: { tickMs: 50, maxBufferedBytes: limit, dropGraceMs: 60_000 } })
    // a client that reads nothing: node:http, paused, so the socket stops taking data
    const url = new URL(`${server.url}/events`)
    let text = ''
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request({ host: url.hostname, port: url.port, path: '/events?resource=/s/%2B' }, resolve)
      req.on('error', reject)
      req.end()
    })
    res.pause()
    const done = new Promise<void>((resolve) => res.on('end', () => resolve()))
    const produce = setInterval(() => {
      const now = Date.now()
      for (const p of paths) for (let k = 0; k < 20; k++) inst.add(p, now - k, Math.random())
    }, 50)
    try {
      const stat = async (): Promise<{ open: number; dropped: number; peakBufferedBytes: number; limitBytes: number }> => ((await (await fetch(`${server.url}/status`)).json()) as { events: never }).events
      await until(async () => (await stat()).dropped === 1, 60_000)
      const s = await stat()
      expect(s).toMatchObject({ open: 0, dropped: 1, limitBytes: limit })
      expect(s.peakBufferedBytes).toBeGreaterThan(limit / 2)
      expect(s.peakBufferedBytes).toBeLessThanOrEqual(limit)
      expect(inst.tree.listeners).toHaveLength(0)
    } finally {
      clearInterval(produce)
    }
    res.setEncoding('utf8')
    res.on('data', (d: string) => (text += d))
    res.resume()
    await done
    const events: SseEvent[] = []
    parseEvents(text, events)
    expect(events[0]?.event).toBe('hello')
    expect(events.filter((e) => e.event === 'readings').length).toBeGreaterThan(0)
    const last = events[events.length - 1] as SseEvent
    expect(last.event).toBe('dropped')
    expect(data(last)).toEqual({
      reason: 'behind',
      message: expect.stringMatching(/^this event stream was closed because it fell behind: \d+ bytes were still unsent and the next event would pass the bound of 262144; reconnect to GET \/events\?resource=%2Fs%2F%2B, and GET \/data for what was missed$/),
      limitBytes: limit,
      reconnect: '/events?resource=%2Fs%2F%2B',
    })
  }, 90_000)
})
