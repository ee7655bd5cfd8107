import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createApp, Secret, loadText, serve, SmapInstance, type ChannelStatus, type Logger, type SmapServer } from '@smap/core'
import { startSink, type Sink } from './_sink.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const quiet: Logger & { lines: string[] } = { lines: [], info: () => {}, warn: (m) => quiet.lines.push(m), error: (m) => quiet.lines.push(m) }

async function until(check: () => boolean | Promise<boolean>, ms = 15_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`)
    await sleep(10)
  }
}

async function channels(inst: SmapInstance, uuid?: string): Promise<ChannelStatus[]> {
  const reports = (await inst.status()).reports as Record<string, { channels: ChannelStatus[] }>
  const sub = uuid ? reports[uuid] : Object.values(reports)[0]
  return sub?.channels ?? []
}

/** added + restored = delivered + dropped + dead-lettered + buffered + pending, always. */
function balances(c: ChannelStatus): boolean {
  return c.added + c.restored === c.delivered + c.dropped.total + c.deadLettered + c.backlogReadings + c.pending
}

describe('reporting', () => {
  let dir: string
  let sink: Sink
  let inst: SmapInstance | undefined
  let server: SmapServer | undefined

  const make = (extra: Partial<SmapInstance['server']> = {}): SmapInstance =>
    new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(dir, 'data'), flushInterval: 10, retryBackoff: 5, maxRetryBackoff: 50, reportTimeout: 300, ...extra } })

  const streams = (i: SmapInstance, n: number): void => {
    for (let s = 0; s < n; s++) i.addTimeseries(`/m/s${s}`, `s${s}`, 'W')
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-report-'))
    sink = await startSink()
  })
  afterEach(async () => {
    await server?.close()
    server = undefined
    await inst?.stop()
    inst = undefined
    await sink.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('delivers every reading, in order per stream, through 500s, Retry-After in both forms, 408, 429, resets and slow answers', async () => {
    inst = make()
    streams(inst, 3)
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: sink.url })
    const script = [
      { status: 500 },
      { status: 503, headers: { 'Retry-After': '0' } },
      'reset' as const,
      { status: 429, headers: { 'Retry-After': new Date(Date.now() + 50).toUTCString() } },
      { status: 408 },
      { delayMs: 600 }, // longer than ReportTimeout: the POST is abandoned and sent again
      { status: 502, body: 'bad gateway' },
    ]
    sink.behave((_, n) => (n % 3 === 1 ? (script[Math.floor(n / 3) % script.length] ?? 'ok') : 'ok'))
    await inst.start()
    const N = 3000
    for (let i = 0; i < N; i++) {
      inst.add(`/m/s${i % 3}`, 1_700_000_000_000 + i, i)
      if (i % 100 === 99) await sleep(2)
    }
    await inst.flush()
    await until(async () => (await channels(inst as SmapInstance))[0]?.backlogReadings === 0, 20_000, 'backlog drained')
    for (let s = 0; s < 3; s++) {
      const got = sink.values(`/m/s${s}`)
      const expected = Array.from({ length: N / 3 }, (_, k) => k * 3 + s)
      // at least once, in order: duplicates only where a slow answer was abandoned after it was accepted
      expect([...new Set(got)]).toEqual(expected)
      expect(got.filter((v, k) => k > 0 && v <= (got[k - 1] as number)).length).toBeLessThanOrEqual(got.length - expected.length)
    }
    const [c] = await channels(inst)
    expect(c && balances(c)).toBe(true)
    expect(c?.lastError?.message).toBeTruthy()
    // a batch keeps its id across retries, so receivers can drop duplicates
    const ids = sink.seen.map((r) => r.batchId)
    expect(ids.filter((id, k) => ids.indexOf(id) !== k).length).toBeGreaterThan(0)
  })

  it('fails over to the next location, and delivers everything to every location in fan-out', async () => {
    const second = await startSink()
    try {
      await sink.down()
      inst = make()
      streams(inst, 1)
      await inst.addReport({ uuid: '11111111-1111-4111-8111-111111111111', ReportResource: '/+', ReportDeliveryLocation: [sink.url, second.url] })
      await inst.start()
      for (let i = 0; i < 100; i++) inst.add('/m/s0', 1000 + i, i)
      await inst.flush()
      await until(() => second.values('/m/s0').length === 100, 10_000, 'failover delivery')
      expect((await channels(inst))[0]?.currentLocation).toBe(second.url)

      await sink.up()
      await inst.addReport({ uuid: '22222222-2222-4222-8222-222222222222', ReportResource: '/m/s0', ReportDeliveryLocation: [sink.url, second.url], Delivery: 'fanout' })
      for (let i = 100; i < 200; i++) inst.add('/m/s0', 1000 + i, i)
      await inst.flush()
      await until(async () => (await channels(inst as SmapInstance, '22222222-2222-4222-8222-222222222222')).every((c) => c.backlogReadings === 0), 10_000, 'fan-out delivery')
      // the failover subscription stays with the location that works: it sends 100..199 there too
      expect(second.values('/m/s0')).toHaveLength(300)
      expect(sink.values('/m/s0')).toEqual(Array.from({ length: 100 }, (_, k) => 100 + k))
      const fan = await channels(inst, '22222222-2222-4222-8222-222222222222')
      expect(fan.map((c) => [c.currentLocation, c.delivered])).toEqual([
        [sink.url, 100],
        [second.url, 100],
      ])
    } finally {
      await second.close()
    }
  })

  it('splits a batch answered 413 and sends the halves', async () => {
    inst = make()
    streams(inst, 2)
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: sink.url })
    sink.behave((r) => {
      const n = Object.values(r.body).reduce((k, o) => k + (o.Readings?.length ?? 0), 0)
      return n > 300 ? { status: 413, body: 'too large' } : 'ok'
    })
    for (let i = 0; i < 2000; i++) inst.add(`/m/s${i % 2}`, 1000 + i, i)
    await inst.start()
    await inst.flush()
    await until(async () => (await channels(inst as SmapInstance))[0]?.backlogReadings === 0, 10_000, 'split delivery')
    expect([...sink.values('/m/s0'), ...sink.values('/m/s1')].sort((a, b) => a - b)).toEqual(Array.from({ length: 2000 }, (_, k) => k))
    expect(sink.values('/m/s0')).toEqual(Array.from({ length: 1000 }, (_, k) => 2 * k))
    expect(sink.accepted.every((r) => Object.values(r.body).reduce((k, o) => k + (o.Readings?.length ?? 0), 0) <= 300)).toBe(true)
    const [c] = await channels(inst)
    expect(c && balances(c)).toBe(true)
  })

  it('loses nothing added while a PUT replaces the subscription', async () => {
    inst = make({ reportTimeout: 2000 }) // longer than the sink's answers take
    streams(inst, 1)
    server = await serve(inst, { port: 0 })
    sink.behave(() => ({ delayMs: 300 })) // a POST is on the wire when the PUT comes
    const body = { uuid: '99999999-9999-4999-8999-999999999999', ReportResource: '/+', ReportDeliveryLocation: sink.url }
    await inst.addReport(body, { origin: 'http' })
    let n = 0
    const adding = setInterval(() => inst?.add('/m/s0', 1000 + n, n++), 2)
    await sleep(150)
    const res = await fetch(`${server.url}/reports/99999999-9999-4999-8999-999999999999`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...body, MinPeriod: 0.01 }) })
    expect(res.status).toBe(200)
    await sleep(150)
    clearInterval(adding)
    await inst.flush()
    await until(async () => (await channels(inst as SmapInstance))[0]?.backlogReadings === 0, 10_000, 'drained after PUT')
    expect(sink.uniqueValues('/m/s0')).toEqual(Array.from({ length: n }, (_, k) => k))
  })

  it('sets a batch answered 400 aside as a dead letter, goes on, and replays it on request', async () => {
    inst = make()
    streams(inst, 1)
    await inst.addReport({ uuid: '33333333-3333-4333-8333-333333333333', ReportResource: '/+', ReportDeliveryLocation: sink.url })
    let poison = true
    sink.behave((r) => (poison && r.body['/m/s0']?.Readings?.some(([, v]) => v === 5) ? { status: 400, body: 'value 5 is not allowed' } : 'ok'))
    await inst.start()
    for (let i = 0; i < 10; i++) inst.add('/m/s0', 1000 + i, i)
    await inst.flush()
    await until(async () => (await channels(inst as SmapInstance))[0]?.deadLetters === 1, 10_000, 'dead letter')
    for (let i = 10; i < 20; i++) inst.add('/m/s0', 1000 + i, i)
    await inst.flush()
    await until(() => sink.values('/m/s0').includes(19), 10_000, 'later readings delivered')
    let [c] = await channels(inst)
    expect(c?.deadLettered).toBe(10)
    expect(c && balances(c)).toBe(true)
    expect(quiet.lines.some((l) => l.includes('was rejected') && l.includes('value 5 is not allowed'))).toBe(true)

    poison = false
    server = await serve(inst, { port: 0 })
    const res = await fetch(`${server.url}/reports/33333333-3333-4333-8333-333333333333/replay`, { method: 'POST' })
    expect(await res.json()).toEqual({ replayed: 10 })
    await until(() => sink.values('/m/s0').length === 20, 10_000, 'replayed')
    expect(sink.values('/m/s0').sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, k) => k))
    ;[c] = await channels(inst)
    expect([c?.deadLetters, c?.deadLettered, c && balances(c)]).toEqual([0, 0, true])
    // the store is compacted after the removals: no insert and delete lines left behind
    expect(await readFile(join(dir, 'data', 'reports', '33333333-3333-4333-8333-333333333333', '0', 'deadletters.db'), 'utf8')).toBe('')
  })

  it('keeps at most MaxBuffer readings per stream while the subscriber is down, counting the dropped', async () => {
    await sink.down()
    inst = make()
    streams(inst, 2)
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: sink.url, MaxBuffer: 100 })
    await inst.start()
    for (let i = 0; i < 1000; i++) inst.add('/m/s0', 1000 + i, i)
    for (let i = 0; i < 50; i++) inst.add('/m/s1', 1000 + i, i)
    await inst.flush()
    let [c] = await channels(inst)
    expect(c?.dropped.perStream['/m/s0']).toBeGreaterThanOrEqual(890)
    expect(c?.dropped.perStream['/m/s1']).toBeUndefined()
    expect(c?.backlogReadings).toBeLessThanOrEqual(110 + 50)
    expect(c && balances(c)).toBe(true)
    await sink.up()
    await until(async () => (await channels(inst as SmapInstance))[0]?.backlogReadings === 0, 10_000, 'drain')
    // the newest survive, in order
    const got = sink.values('/m/s0')
    expect(got.at(-1)).toBe(999)
    expect(got).toEqual([...got].sort((a, b) => a - b))
    ;[c] = await channels(inst)
    expect(c && balances(c)).toBe(true)
  })

  it('keeps undelivered readings across a restart and delivers them then', async () => {
    await sink.down()
    inst = make()
    streams(inst, 2)
    await inst.addReport({ uuid: '44444444-4444-4444-8444-444444444444', ReportResource: '/+', ReportDeliveryLocation: sink.url, MaxBuffer: 20_000 })
    await inst.start()
    for (let i = 0; i < 25_000; i++) inst.add(`/m/s${i % 2}`, 1000 + i, i)
    await inst.flush()
    await inst.stop()
    await sink.up()

    inst = make()
    streams(inst, 2)
    await inst.addReport({ uuid: '44444444-4444-4444-8444-444444444444', ReportResource: '/+', ReportDeliveryLocation: sink.url, MaxBuffer: 20_000 })
    await inst.start()
    await until(() => sink.values('/m/s0').length + sink.values('/m/s1').length === 25_000, 15_000, 'delivered after restart')
    expect(sink.values('/m/s1')).toEqual(Array.from({ length: 12_500 }, (_, k) => 2 * k + 1))
    const [c] = await channels(inst)
    expect(c?.restored).toBe(25_000)
    expect(c && balances(c)).toBe(true)
    // at most 10,000 readings per POST
    expect(Math.max(...sink.accepted.map((r) => Object.values(r.body).reduce((k, o) => k + (o.Readings?.length ?? 0), 0)))).toBe(10_000)
    // fully delivered segment files are deleted
    await until(async () => (await readdir(join(dir, 'data', 'reports', '44444444-4444-4444-8444-444444444444', '0', 'outbox'))).length <= 1, 5000, 'segments deleted')
  })

  it('sends full objects first and after a metadata change, otherwise uuid and Readings', async () => {
    inst = make()
    inst.addCollection('/m')
    inst.setMetadata('/m', { 'Instrument/Model': 'X1' })
    streams(inst, 1)
    await inst.addReport({ ReportResource: '/m/+', ReportDeliveryLocation: sink.url, Format: 'gzip-json' })
    await inst.start()
    await until(() => sink.accepted.length >= 1, 5000, 'first report')
    // a new subscription gets the full objects of everything it covers at once
    expect(sink.accepted[0]?.body).toEqual({
      '/m/s0': { uuid: inst.uuid('s0'), Properties: { UnitofMeasure: 'W', ReadingType: 'long', Timezone: 'America/Los_Angeles' }, Readings: [] },
      '/m': { Contents: ['s0'], Metadata: { Instrument: { Model: 'X1' } } },
      '/': { Contents: ['m'] },
    })
    expect(sink.accepted[0]?.encoding).toBe('gzip')
    inst.add('/m/s0', 1000, 1)
    await inst.flush()
    await until(() => sink.accepted.length >= 2, 5000, 'second report')
    expect(sink.accepted[1]?.body).toEqual({ '/m/s0': { uuid: inst.uuid('s0'), Readings: [[1000, 1]] } })
    inst.setMetadata('/m/s0', { 'Extra/Phase': 'A' })
    // a stream added later (as a driver adds points) joins the subscription, full object first
    inst.addTimeseries('/m/s9', 's9', 'V')
    inst.add('/m/s0', 2000, 2)
    inst.add('/m/s9', 2000, 9)
    await inst.flush()
    await until(() => sink.accepted.length >= 3, 5000, 'third report')
    expect(sink.accepted[2]?.body['/m/s0']).toMatchObject({ Metadata: { Extra: { Phase: 'A' } }, Readings: [[2000, 2]] })
    expect(sink.accepted[2]?.body['/m/s9']).toMatchObject({ Properties: { UnitofMeasure: 'V' }, Readings: [[2000, 9]] })
  })

  it('spaces deliveries by MinPeriod, sends an empty report after MaxPeriod, and ends at ExpireTime', async () => {
    inst = make()
    streams(inst, 1)
    await inst.addReport({ uuid: '55555555-5555-4555-8555-555555555555', ReportResource: '/m/s0', ReportDeliveryLocation: sink.url, MinPeriod: 0.3, MaxPeriod: 0.4, ExpireTime: Date.now() + 1500 })
    await inst.start()
    const times: number[] = []
    sink.behave(() => {
      times.push(Date.now())
      return 'ok'
    })
    for (let k = 0; k < 4; k++) {
      inst.add('/m/s0', 1000 + k, k)
      await inst.flush()
      await sleep(50)
    }
    await until(() => sink.accepted.some((r) => Object.keys(r.body).length === 0), 5000, 'keepalive')
    const gaps = times.slice(1).map((t, k) => t - (times[k] as number))
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(280)
    await until(() => !inst?.subscriptions.has('55555555-5555-4555-8555-555555555555'), 5000, 'expiry')
  })

  it('does not follow redirects and keeps the data', async () => {
    inst = make()
    streams(inst, 1)
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: sink.url })
    sink.behave(() => ({ status: 302, headers: { Location: 'http://169.254.169.254/latest' } }))
    await inst.start()
    inst.add('/m/s0', 1000, 1)
    await inst.flush()
    await until(async () => (await channels(inst as SmapInstance))[0]?.lastError !== null, 5000, 'an error')
    const [c] = await channels(inst)
    expect(c?.lastError?.message).toBe(`${sink.url} answered 302 redirecting to http://169.254.169.254/latest; redirects are not followed, fix the delivery location`)
    expect(c?.backlogReadings).toBe(1)
    expect(sink.seen.length).toBeGreaterThan(0)
  })

  it('reads [report NAME] sections with a stable uuid and failover locations', async () => {
    const text = `[server]\nDataDir = ${join(dir, 'data')}\n[/]\nuuid = ${ROOT}\n[/a]\nProperties/UnitofMeasure = V\n\n[report 0]\nReportDeliveryLocation = ${sink.url}\nReportDeliveryLocation1 = http://127.0.0.1:1/backup\nReportResource = /+\nMinPeriod = 1\nMaxBuffer = 500\n`
    inst = await loadText(text, join(dir, 'conf.ini'), { logger: quiet })
    const sub = [...inst.subscriptions.values()][0]
    expect(sub?.config).toEqual({
      uuid: inst.uuid('report 0'),
      ReportResource: '/+',
      ReportDeliveryLocation: [sink.url, 'http://127.0.0.1:1/backup'],
      MinPeriod: 1,
      MaxPeriod: undefined,
      ExpireTime: undefined,
      Format: 'json',
      Delivery: 'failover',
      MaxBuffer: 500,
    })
    const errors = async (t: string): Promise<string> =>
      loadText(t, 'conf.ini', { logger: quiet }).then(
        () => 'no error',
        (e: Error) => e.message,
      )
    const base = `[/]\nuuid = ${ROOT}\n[report x]\n`
    expect(await errors(`${base}ReportResource = /+\n`)).toBe(
      'conf.ini:3 [report x] ReportDeliveryLocation: missing: where to send the readings, e.g. "ReportDeliveryLocation = http://localhost:8079/add"',
    )
    expect(await errors(`${base}ReportDeliveryLocation = ftp://a/add\nReportResource = /+\n`)).toBe('conf.ini:4 [report x] ReportDeliveryLocation: "ftp://a/add" must be an http:// or https:// URL, or a broker\'s mqtt:// or mqtts:// URL with a topic prefix')
    expect(await errors(`${base}ReportDeliveryLocation = http://169.254.169.254/x\nReportResource = /+\n`)).toBe(
      'conf.ini:4 [report x] ReportDeliveryLocation: "http://169.254.169.254/x" points at a link-local address (where cloud metadata services answer); set AllowLinkLocal = true in [server] if you mean it',
    )
    expect(await errors(`${base}ReportDeliveryLocation = http://[::ffff:169.254.169.254]/x\nReportResource = /+\n`)).toBe(
      'conf.ini:4 [report x] ReportDeliveryLocation: "http://[::ffff:169.254.169.254]/x" points at a link-local address (where cloud metadata services answer); set AllowLinkLocal = true in [server] if you mean it',
    )
    expect(await errors(`${base}ReportDeliveryLocation = not a url\nReportResource = /+\n`)).toBe('conf.ini:4 [report x] ReportDeliveryLocation: "not a url" is not a URL; expected one like http://archiver:8079/add')
    expect(await errors(`${base}ReportDeliveryLocation = http://a/add\nReportResource = /+\nMinPeriod = soon\n`)).toBe('conf.ini:6 [report x] MinPeriod: expected seconds, 0 or more, got "soon"')
  })
})

describe('/reports over HTTP', () => {
  let dir: string
  let sink: Sink
  let inst: SmapInstance
  let server: SmapServer

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-reports-http-'))
    sink = await startSink()
    inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir, flushInterval: 10, retryBackoff: 5 } })
    inst.addTimeseries('/s', 's', 'V')
    server = await serve(inst, { port: 0 })
  })
  afterEach(async () => {
    await server.close()
    await sink.close()
    await rm(dir, { recursive: true, force: true })
  })

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const headers = body === undefined ? undefined : { 'Content-Type': 'application/json' }
    const res = await fetch(`${server.url}${path}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) })
    const text = await res.text()
    return { status: res.status, body: text ? JSON.parse(text) : undefined }
  }

  it('creates, reads, updates and deletes subscriptions, which survive a restart', async () => {
    const created = await call('POST', '/reports', { ReportResource: '/+', ReportDeliveryLocation: sink.url })
    expect(created.status).toBe(201)
    const uuid = (created.body as { uuid: string }).uuid
    expect(created.body).toEqual({ uuid, ReportResource: '/+', ReportDeliveryLocation: [sink.url], MinPeriod: 0, Format: 'json' })
    expect(await call('GET', '/reports')).toEqual({ status: 200, body: { Contents: [uuid] } })
    // it receives the full objects of what it covers at once
    await until(() => sink.accepted.length > 0, 5000, 'first delivery')
    expect(sink.accepted[0]?.body['/s']).toMatchObject({ uuid: inst.uuid('s'), Readings: [] })

    expect(await call('POST', '/reports', { uuid, ReportResource: '/+', ReportDeliveryLocation: sink.url })).toEqual({
      status: 400,
      body: { error: `report ${uuid} exists already; PUT /reports/${uuid} to change it` },
    })
    expect((await call('PUT', `/reports/${uuid}`, { ReportResource: '/s', ReportDeliveryLocation: sink.url, MinPeriod: 2 })).status).toBe(200)
    expect((await call('GET', `/reports/${uuid}`)).body).toMatchObject({ ReportResource: '/s', MinPeriod: 2 })

    // a restart brings it back
    await server.close()
    inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir, flushInterval: 10 } })
    inst.addTimeseries('/s', 's', 'V')
    server = await serve(inst, { port: 0 })
    expect((await call('GET', `/reports/${uuid}`)).body).toMatchObject({ uuid, ReportResource: '/s', MinPeriod: 2 })

    const removed = await call('DELETE', `/reports/${uuid}`)
    expect(removed.status).toBe(200)
    expect(removed.body).toEqual({ removed: uuid })
    expect(await call('GET', `/reports/${uuid}`)).toEqual({ status: 404, body: { error: `no report ${uuid}` } })
    expect(await readdir(join(dir, 'reports'))).toEqual([])
  })

  it('answers a bad body with a 400 that says why, never a 500', async () => {
    expect(await call('POST', '/reports', '{not json')).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^request body is not JSON: /) } })
    expect(await call('POST', '/reports', { ReportResource: '/+' })).toEqual({
      status: 400,
      body: { error: 'invalid report: ReportDeliveryLocation: Invalid input' },
    })
    expect(await call('POST', '/reports', { ReportResource: '/+', ReportDeliveryLocation: sink.url, Colour: 'red' })).toEqual({
      status: 400,
      body: { error: 'invalid report: body: Unrecognized key: "Colour"' },
    })
    expect(await call('POST', '/reports', { ReportResource: '/+', ReportDeliveryLocation: 'file:///etc/passwd' })).toEqual({
      status: 400,
      body: { error: 'ReportDeliveryLocation "file:///etc/passwd" must be an http:// or https:// URL, or a broker\'s mqtt:// or mqtts:// URL with a topic prefix', code: 'SMAP_REPORT_LOCATION' },
    })
    expect(await call('POST', '/reports', { ReportResource: '/a b', ReportDeliveryLocation: sink.url })).toMatchObject({ status: 400 })
    expect(await call('PUT', '/reports/not-a-uuid', { ReportResource: '/+', ReportDeliveryLocation: sink.url })).toEqual({ status: 400, body: { error: '"not-a-uuid" is not a uuid' } })
    expect((await call('POST', '/reports', 'x'.repeat(70_000))).status).toBe(413)
    expect(await call('DELETE', '/reports/66666666-6666-4666-8666-666666666666')).toEqual({ status: 404, body: { error: 'no report 66666666-6666-4666-8666-666666666666' } })
  })

  it('refuses other machines unless they bring the bearer token, and refuses changes to config reports', async () => {
    let app = createApp(inst)
    const from = async (address: string, auth?: string): Promise<Response> =>
      await app.fetch(new Request('http://source/reports', { headers: auth ? { Authorization: auth } : {} }), { incoming: { socket: { remoteAddress: address } } })
    expect((await from('127.0.0.1')).status).toBe(200)
    expect((await from('::ffff:127.0.0.1')).status).toBe(200)
    const denied = await from('10.1.2.3')
    expect(denied.status).toBe(403)
    expect(await denied.json()).toEqual({ error: 'subscriptions can be managed only from this machine; set ReportToken in [server] to allow others with a bearer token' })
    // settings are fixed when an instance is made
    app = createApp(new SmapInstance(inst.root, { server: { reportToken: new Secret('env:SMAP_REPORT_TOKEN', 'a-long-enough-secret-token') } }))
    expect((await from('10.1.2.3', 'Bearer wrong-token-of-same-size!')).status).toBe(403)
    expect((await from('10.1.2.3', 'Bearer a-long-enough-secret-token')).status).toBe(200)

    await inst.addReport({ uuid: '77777777-7777-4777-8777-777777777777', ReportResource: '/+', ReportDeliveryLocation: sink.url }, { origin: 'config', where: 'conf.ini:12' })
    expect(await call('DELETE', '/reports/77777777-7777-4777-8777-777777777777')).toEqual({
      status: 409,
      body: { error: 'report 77777777-7777-4777-8777-777777777777 comes from conf.ini:12; change it there' },
    })
  })
})
