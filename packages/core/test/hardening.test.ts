import { execFileSync } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { appendFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createApp, Secret, serve, SmapInstance, type ChannelStatus, type Logger, type SmapServer } from '@smap/core'
import { startSink } from './_sink.js'
import { canMount, withTmpfs } from './_mount.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const logged: string[] = []
const quiet: Logger = { info: () => {}, warn: (m) => void logged.push(m), error: (m, e) => void logged.push(`${m}${e instanceof Error ? `: ${e.message}` : ''}`) }

describe('subscriptions under concurrent writes and odd requests', () => {
  let dir: string
  let server: SmapServer | undefined
  const make = (): SmapInstance => new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(dir, 'data'), flushInterval: 10 } })
  const post = (s: SmapServer, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${s.url}/reports`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) })

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-hardening-'))
    logged.length = 0
  })
  afterEach(async () => {
    await server?.close()
    server = undefined
    await rm(dir, { recursive: true, force: true })
  })

  it('keeps every subscription it answered 201 for, when twenty arrive at once on a fresh data dir', async () => {
    server = await serve(make(), { port: 0 })
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => post(server as SmapServer, { ReportResource: '/+', ReportDeliveryLocation: `http://127.0.0.1:9/add${i}` })))
    expect(answers.map((r) => r.status), logged.join('\n')).toEqual(Array(20).fill(201))
    const made = await Promise.all(answers.map(async (r) => ((await r.json()) as { uuid: string }).uuid))
    await server.close()
    server = await serve(make(), { port: 0 })
    const listed = ((await (await fetch(`${server.url}/reports`)).json()) as { Contents: string[] }).Contents
    expect(listed.sort()).toEqual(made.sort())
  })
})

describe('start-up', () => {
  it('answers subscription changes with 503 and Retry-After until saved subscriptions are restored', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smap-startup-'))
    try {
      let release: () => void = () => {}
      const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir } })
      inst.addDriver('/slow', { name: 'slow', setup: () => new Promise<void>((r) => (release = r)) })
      const app = createApp(inst)
      const body = JSON.stringify({ ReportResource: '/+', ReportDeliveryLocation: 'http://127.0.0.1:9/add' })
      const post = (): Promise<Response> => Promise.resolve(app.fetch(new Request('http://source/reports', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body }), { incoming: { socket: { remoteAddress: '127.0.0.1' } } }))
      const starting = inst.start()
      const early = await post()
      expect(early.status).toBe(503)
      expect(early.headers.get('retry-after')).toBe('1')
      expect(await early.json()).toEqual({ error: 'the source is starting and restoring its subscriptions; try again in a second' })
      expect((await app.fetch(new Request('http://source/reports'), { incoming: { socket: { remoteAddress: '127.0.0.1' } } })).status).toBe(200)
      release()
      await starting
      expect((await post()).status).toBe(201)
      await inst.stop()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('/status', () => {
  it('balances its books while a flush is being written', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smap-books-'))
    try {
      const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir, flushInterval: 60_000 } })
      for (let s = 0; s < 50; s++) inst.addTimeseries(`/s${s}`, `s${s}`, 'W')
      await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: 'http://127.0.0.1:9/add', MaxBuffer: 1_000_000 })
      await inst.start()
      for (let round = 0; round < 5; round++) {
        for (let k = 0; k < 40_000; k++) inst.add(`/s${k % 50}`, k)
        const flushing = inst.flush()
        const [c] = Object.values((await inst.status()).reports)[0]?.channels ?? []
        await flushing
        expect(c && c.added + c.restored - (c.delivered + c.dropped.total + c.deadLettered + c.backlogReadings + c.pending)).toBe(0)
      }
      await inst.stop()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('credentials', () => {
  const inst = new SmapInstance(ROOT, { logger: quiet, server: { reportToken: new Secret('env:SMAP_REPORT_TOKEN', 'a-long-enough-secret-token') } })
  const app = createApp(inst)
  const from = (address: string, auth: string): Promise<Response> =>
    Promise.resolve(app.fetch(new Request('http://source/reports', { headers: { Authorization: auth } }), { incoming: { socket: { remoteAddress: address } } }))

  it('answers malformed credentials with 401, a non-ASCII token included, and a wrong token with 403', async () => {
    const latin = await from('10.1.2.3', 'Bearer a-long-enough-secret-tokön')
    expect(latin.status).toBe(401)
    expect(latin.headers.get('www-authenticate')).toBe('Bearer')
    expect(await latin.json()).toEqual({ error: 'malformed Authorization header: expected "Bearer TOKEN", the token being one of [token NAME] or [server] ReportToken' })
    expect((await from('10.1.2.3', 'Basic dXNlcjpwYXNz')).status).toBe(401)
    expect((await from('10.1.2.3', 'Bearer a-long-enough-secret-tokeX')).status).toBe(403)
    expect((await from('10.1.2.3', 'Bearer short')).status).toBe(403)
    expect((await from('10.1.2.3', 'Bearer a-long-enough-secret-token')).status).toBe(200)
    expect(logged.filter((l) => l.includes('failed'))).toEqual([])
  })
})

describe('requests from web pages', () => {
  const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(tmpdir(), 'smap-never-written') } })
  const app = createApp(inst)
  const send = (headers: Record<string, string>, body = '{"ReportResource":"/+","ReportDeliveryLocation":"http://evil.example/add"}'): Promise<Response> =>
    Promise.resolve(app.fetch(new Request('http://127.0.0.1:8080/reports', { method: 'POST', headers: { Host: '127.0.0.1:8080', ...headers }, body }), { incoming: { socket: { remoteAddress: '127.0.0.1' } } }))

  it('refuses a subscription sent as text/plain or a form, which any page can send without asking', async () => {
    const plain = await send({ 'Content-Type': 'text/plain' })
    expect(plain.status).toBe(415)
    expect(await plain.json()).toEqual({ error: 'send the subscription as JSON with Content-Type: application/json, not text/plain' })
    expect((await send({ 'Content-Type': 'application/x-www-form-urlencoded' })).status).toBe(415)
    expect(inst.subscriptions.size).toBe(0)
  })

  it('refuses a write whose Origin is another site', async () => {
    const foreign = await send({ 'Content-Type': 'application/json', Origin: 'http://evil.example' })
    expect(foreign.status).toBe(403)
    expect(await foreign.json()).toEqual({ error: 'cross-site request refused: Origin http://evil.example is not this source' })
    expect((await send({ 'Content-Type': 'application/json', Origin: 'null' })).status).toBe(403)
    expect(inst.subscriptions.size).toBe(0)
  })

  it('refuses an ExpireTime already past, which would remove the subscription at once', async () => {
    const past = await send({ 'Content-Type': 'application/json' }, JSON.stringify({ ReportResource: '/+', ReportDeliveryLocation: 'http://127.0.0.1:9/add', ExpireTime: Date.now() - 1000 }))
    expect(past.status).toBe(400)
    expect(((await past.json()) as { error: string }).error).toMatch(/^ExpireTime \d+ \(\S+\) is in the past; give a later time \(Unix milliseconds, or seconds as the original sMAP sends\), or leave it out$/)
  })
})

describe('saved subscriptions', () => {
  it('refuses a damaged record at start with its file and reason, loads the rest, and /status still answers', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smap-saved-'))
    try {
      const first = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir } })
      await first.start()
      const good = await first.addReport({ ReportResource: '/+', ReportDeliveryLocation: 'http://127.0.0.1:9/good' }, { origin: 'http' })
      await first.stop()
      const bad = '88888888-8888-4888-8888-888888888888'
      await appendFile(join(dir, 'subscriptions.db'), `${JSON.stringify({ _id: bad, config: { uuid: bad, ReportResource: 5, ReportDeliveryLocation: ['http://127.0.0.1:9/bad'], MinPeriod: 0, Format: 'json', Delivery: 'failover', MaxBuffer: 10 } })}\n`)
      const again = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir } })
      again.addTimeseries('/s', 's', 'V')
      await again.start()
      expect([...again.subscriptions.keys()]).toEqual([good.uuid])
      expect(logged).toContainEqual(`${join(dir, 'subscriptions.db')}: subscription "${bad}" is not loaded: invalid report: ReportResource: Invalid input: expected string, received number; its outbox, if any, is kept under reports/; fix or remove the record and restart`)
      expect(Object.keys((await again.status()).reports)).toEqual([good.uuid])
      again.add('/s', 1)
      await again.stop()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('drivers', () => {
  it('counts a poll that hangs without a timeout of its own as a failure, after the default timeout', async () => {
    const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(tmpdir(), 'smap-never-written') } })
    const d = inst.addDriver('/hang', { name: 'hang', setup() {}, start: (ctx) => void ctx.periodic(() => new Promise(() => {}), 0.01) }, {}, { pollTimeoutMs: 50, backoffMs: 10_000 })
    await inst.start()
    const until = Date.now() + 5000
    while (d.state !== 'backoff' && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
    expect(d.status()).toMatchObject({ state: 'backoff', lastError: { message: 'a periodic run did not finish within 0.05 s', phase: 'poll' }, nextAttempt: expect.any(Number) })
    await inst.stop()
    expect(d.status().nextAttempt).toBeNull()
  })
})

describe('limits', () => {
  it('keeps at most MaxSubscriptions subscriptions and refuses a MaxPeriod that would flood the receiver', async () => {
    const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(tmpdir(), 'smap-never-written'), maxSubscriptions: 2 } })
    const app = createApp(inst)
    const post = async (body: unknown): Promise<{ status: number; body: unknown }> => {
      const res = await app.fetch(new Request('http://source/reports', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }), { incoming: { socket: { remoteAddress: '127.0.0.1' } } })
      return { status: res.status, body: await res.json() }
    }
    const sub = { ReportResource: '/+', ReportDeliveryLocation: 'http://127.0.0.1:9/add' }
    expect((await post(sub)).status).toBe(201)
    const second = await post({ ...sub, uuid: '12345678-1234-4234-8234-123456789012' })
    expect(second.status).toBe(201)
    expect(await post(sub)).toEqual({ status: 409, body: { code: 'SMAP_REPORT_LIMIT', error: 'this source keeps at most 2 subscriptions (MaxSubscriptions in [server]); remove one first (DELETE /reports/UUID)' } })
    // replacing one is not one more
    const put = await app.fetch(new Request('http://source/reports/12345678-1234-4234-8234-123456789012', { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...sub, MinPeriod: 5 }) }), { incoming: { socket: { remoteAddress: '127.0.0.1' } } })
    expect(put.status).toBe(200)
    await inst.removeReport('12345678-1234-4234-8234-123456789012')
    expect(await post({ ...sub, MaxPeriod: 0.001 })).toEqual({ status: 400, body: { code: 'SMAP_REPORT_INVALID', error: 'MaxPeriod (0.001 s) must be at least 0.1 s: it sends an empty report that often' } })
  })
})


describe('the outbox byte cap', () => {
  it('drops the oldest readings of all outboxes beyond MaxOutboxBytes, counts them and says so', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smap-bytecap-'))
    logged.length = 0
    const cap = 1024 * 1024
    const sink = await startSink()
    await sink.down()
    const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir, flushInterval: 10, maxOutboxBytes: cap, retryBackoff: 5, maxRetryBackoff: 20 } })
    try {
      inst.addTimeseries('/a', 'a', 'W')
      inst.addTimeseries('/b', 'b', 'W')
      // two subscribers that are down: both outboxes fill, the older readings go first whichever holds them
      await inst.addReport({ uuid: '11111111-1111-4111-8111-111111111111', ReportResource: '/a', ReportDeliveryLocation: 'http://127.0.0.1:9/add', MaxBuffer: 1_000_000 })
      await inst.addReport({ uuid: '22222222-2222-4222-8222-222222222222', ReportResource: '/+', ReportDeliveryLocation: sink.url, MaxBuffer: 1_000_000 })
      await inst.start()
      const t0 = 1_700_000_000_000
      let n = 0
      for (let round = 0; round < 40; round++) {
        for (let k = 0; k < 2500; k++, n++) {
          inst.add('/a', t0 + n, n)
          inst.add('/b', t0 + n, n)
        }
        await new Promise((r) => setTimeout(r, 20))
      }
      await inst.flush()
      await new Promise((r) => setTimeout(r, 50)) // a tick after the last write
      const channels = Object.values((await inst.status()).reports).map((r) => r.channels[0] as ChannelStatus)
      const bytes = channels.reduce((s, c) => s + c.backlogBytes, 0)
      expect(bytes).toBeLessThanOrEqual(cap)
      expect(bytes).toBeGreaterThan(cap / 2)
      for (const c of channels) {
        expect(c.dropped.total).toBeGreaterThan(0)
        expect(c.added).toBe(c.delivered + c.dropped.total + c.deadLettered + c.backlogReadings + c.pending)
      }
      expect(logged.filter((l) => l.includes('hold more than MaxOutboxBytes (1MB)'))).toHaveLength(1)
      // the newest readings are the ones kept: what arrives once the subscriber is back is the tail of each stream
      const kept = channels[1]?.backlogReadings as number
      await sink.up()
      const end = Date.now() + 20_000
      while (Date.now() < end && sink.uniqueValues('/a').length + sink.uniqueValues('/b').length < kept) await new Promise((r) => setTimeout(r, 50))
      for (const p of ['/a', '/b']) {
        const got = sink.uniqueValues(p)
        expect(got.length).toBeGreaterThan(0)
        expect(got).toEqual(Array.from({ length: got.length }, (_, k) => n - got.length + k))
      }
      await inst.stop()
    } finally {
      await sink.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('a full disk', () => {
  it.skipIf(!canMount)('is recovered from: what is held in memory is delivered from there or written in pieces as space returns, and all of it arrives', async () => {
    await withTmpfs('256k', async (mnt) => {
      const sink = await startSink()
      try {
        await sink.down()
        const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: mnt, flushInterval: 10, retryBackoff: 5, maxRetryBackoff: 20, reportTimeout: 1000 } })
        inst.addTimeseries('/s', 's', 'W')
        await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: sink.url, MaxBuffer: 1_000_000 })
        await inst.start()
        const status = async (): Promise<ChannelStatus> => Object.values((await inst.status()).reports)[0]?.channels[0] as ChannelStatus
        let n = 0
        while ((await status()).writeError === null && n < 200_000) {
          for (let k = 0; k < 500; k++) inst.add('/s', n, n++)
          await new Promise((r) => setTimeout(r, 12))
        }
        for (let k = 0; k < 20_000; k++) inst.add('/s', n, n++) // held in memory: more than the disk can take at once
        expect((await status()).writeError).toMatch(/no space left on device/i)
        await sink.up()
        const end = Date.now() + 60_000
        while (Date.now() < end && new Set(sink.uniqueValues('/s')).size < n) await new Promise((r) => setTimeout(r, 50))
        expect(new Set(sink.uniqueValues('/s')).size).toBe(n)
        // and the disk is written again (tried every 5 s)
        while (Date.now() < end && (await status()).writeError !== null) {
          inst.add('/s', n, n++)
          await new Promise((r) => setTimeout(r, 50))
        }
        while (Date.now() < end && new Set(sink.uniqueValues('/s')).size < n) await new Promise((r) => setTimeout(r, 50))
        const c = await status()
        expect([c.writeError, c.pending, c.backlogReadings, c.dropped.total]).toEqual([null, 0, 0, 0])
        await inst.stop()
      } finally {
        await sink.close()
      }
    })
  }, 90_000)
})

describe('delivering while the disk is full', () => {
  it.skipIf(!canMount)('delivers what it holds in memory, in order, while no outbox write can succeed, and writes again once space returns', async () => {
    await withTmpfs('256k', async (mnt) => {
      const sink = await startSink()
      try {
        const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: mnt, flushInterval: 10 } })
        inst.addTimeseries('/s', 's', 'W')
        await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: sink.url, MaxBuffer: 1_000_000 })
        await inst.start()
        const status = async (): Promise<ChannelStatus> => Object.values((await inst.status()).reports)[0]?.channels[0] as ChannelStatus
        const arrived = async (n: number): Promise<void> => {
          const end = Date.now() + 20_000
          while (Date.now() < end && new Set(sink.uniqueValues('/s')).size < n) await new Promise((r) => setTimeout(r, 20))
          expect(new Set(sink.uniqueValues('/s')).size).toBe(n)
        }
        let n = 0
        inst.add('/s', n, n++)
        await arrived(1)
        // something else fills the disk
        const ballast = join(mnt, 'ballast')
        try {
          execFileSync('dd', ['if=/dev/zero', `of=${ballast}`, 'bs=4k'], { stdio: 'ignore' })
        } catch {
          // dd stops with an error when the disk is full: that is the point
        }
        for (let round = 0; round < 20; round++) {
          for (let k = 0; k < 100; k++) inst.add('/s', n, n++)
          await new Promise((r) => setTimeout(r, 20))
        }
        await arrived(n)
        const c = await status()
        expect(c.writeError).toMatch(/no space left on device/i)
        expect([c.pending, c.backlogReadings, c.dropped.total, c.delivered]).toEqual([0, 0, 0, n])
        expect(sink.uniqueValues('/s')).toEqual(Array.from({ length: n }, (_, k) => k))
        // space returns: the next try (every 5 s) writes the outbox again
        await rm(ballast)
        const end = Date.now() + 20_000
        while (Date.now() < end && (await status()).writeError !== null) {
          inst.add('/s', n, n++)
          await new Promise((r) => setTimeout(r, 50))
        }
        await arrived(n)
        expect((await status()).writeError).toBeNull()
        await inst.stop()
      } finally {
        await sink.close()
      }
    })
  }, 60_000)
})

describe('stopping on a full disk', () => {
  it.skipIf(!canMount)('makes a last try to write what it holds, and says how many readings it could not write, instead of dropping them in silence', async () => {
    await withTmpfs('128k', async (mnt) => {
      const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: mnt, flushInterval: 10 } })
      inst.addTimeseries('/s', 's', 'W')
      const report = { uuid: '33333333-3333-4333-8333-333333333333', ReportResource: '/+', ReportDeliveryLocation: 'http://127.0.0.1:9/add', MaxBuffer: 1_000_000 }
      await inst.addReport(report)
      await inst.start()
      for (let n = 0; n < 40_000; n++) inst.add('/s', n, n)
      await inst.flush()
      const [c] = Object.values((await inst.status()).reports)[0]?.channels ?? []
      expect(c?.pending).toBeGreaterThan(0)
      const held = c?.pending as number
      const stored = c?.backlogReadings as number
      logged.length = 0
      await inst.stop()
      const line = logged.find((l) => / readings could not be written to its outbox .* and are lost as it stops$/.test(l)) ?? ''
      const lost = Number(/: (\d+) readings could not/.exec(line)?.[1])
      expect(lost).toBeGreaterThan(0)
      expect(lost).toBeLessThanOrEqual(held)
      // what the last try wrote is there after a restart: nothing else went missing
      const again = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: mnt } })
      again.addTimeseries('/s', 's', 'W')
      await again.addReport(report)
      await again.start()
      const [r] = Object.values((await again.status()).reports)[0]?.channels ?? []
      // ... even though the disk is still full, which stops NeDB from rewriting the file as it loads it
      expect(r?.restored).toBe(stored + held - lost)
      expect(r?.quarantined).toEqual([])
      await again.stop()
    })
  })
})

describe('delivery locations', () => {
  it('refuses link-local and metadata addresses however an IPv6 address spells them', async () => {
    const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(tmpdir(), 'smap-never-written') } })
    for (const host of ['169.254.169.254', '[::ffff:169.254.169.254]', '[::169.254.169.254]', '[64:ff9b::169.254.169.254]', '[64:ff9b:1::a9fe:a9fe]', '[fe80::1]', '[febf::1]', '[fd00:ec2::254]']) {
      await expect(inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: `http://${host}/add` }), host).rejects.toThrow(/points at a link-local address/)
    }
    for (const host of ['127.0.0.1', '[::1]', '[::ffff:10.0.0.1]', '[64:ff9b::8.8.8.8]', '[fec0::1]']) {
      await expect(inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: `http://${host}/add` }), host).resolves.toMatchObject({ ReportResource: '/+' })
    }
  })
})

describe('connections', () => {
  it('closes connections beyond MaxConnections at once, so idle sockets cannot take every file descriptor', async () => {
    const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(tmpdir(), 'smap-never-written'), maxConnections: 5 } })
    const server = await serve(inst, { port: 0 })
    const sockets: Socket[] = []
    try {
      const closed = await Promise.all(
        Array.from({ length: 8 }, async () => {
          const socket = connect(server.port, '127.0.0.1')
          sockets.push(socket)
          await new Promise((r) => socket.once('connect', r))
          return new Promise<boolean>((r) => {
            socket.once('close', () => r(true))
            setTimeout(() => r(false), 500)
          })
        }),
      )
      expect(closed.filter(Boolean)).toHaveLength(3)
      for (const s of sockets) s.destroy()
      await new Promise((r) => setTimeout(r, 50))
      expect((await fetch(`${server.url}/data`)).status).toBe(200)
    } finally {
      for (const s of sockets) s.destroy()
      await server.close()
    }
  })
})

describe('the watchdog', () => {
  it('logs a stall of the event loop over a second, naming the driver whose poll ran', async () => {
    const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(tmpdir(), 'smap-never-written') } })
    let once = true
    inst.addDriver('/busy', {
      name: 'busy',
      setup() {},
      start(ctx) {
        ctx.periodic(() => {
          if (!once) return
          once = false
          const end = Date.now() + 1300
          while (Date.now() < end) {
            // a driver computing without yielding
          }
        }, 0.05, { delay: 0.3 })
      },
    })
    inst.addDriver('/calm', { name: 'calm', setup() {} })
    await inst.start()
    await new Promise((r) => setTimeout(r, 2200))
    await inst.stop()
    // (a busy test machine may add stalls of its own; the driver's must be among them)
    const stalls = logged.filter((l) => l.startsWith('the event loop was blocked'))
    expect(stalls).toContainEqual(expect.stringMatching(/^the event loop was blocked for \d+\.\d s, so nothing else ran \(no HTTP answers, no other driver\); running then: \/busy \(busy\)$/))
  })
})
