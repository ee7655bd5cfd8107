import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineDriver } from '@smap/sdk'
import { createApp, loadText, serve, type Logger, type SmapInstance, type SmapServer } from '@smap/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} }
const REPORTS = 'report-token-0123456789'
const SCADA = 'scada-token-0123456789'
const until = async (check: () => boolean | Promise<boolean>, ms = 8000): Promise<void> => {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** What the driver did, seen from the device's side. */
const log = { setups: 0, starts: 0, stops: 0, polls: 0 }
const meter = defineDriver({
  name: 'meter',
  setup(ctx) {
    log.setups++
    ctx.addTimeseries('/power', { unit: 'kW', readingType: 'double' })
    ctx.addActuator('/relay', { unit: 'on/off', model: 'binary', write: () => {} })
  },
  start(ctx) {
    log.starts++
    ctx.periodic(() => {
      log.polls++
      ctx.add('/power', 1.5)
    }, 0.05)
  },
  stop() {
    log.stops++
  },
})

/** An instance with an actuate token (scada), ReportToken, and the meter at /meter. */
async function make(dataDir: string, root = false): Promise<SmapInstance> {
  process.env.SMAP_TEST_REPORTS = REPORTS
  process.env.SMAP_TEST_SCADA = SCADA
  const text = ['[server]', 'ReportToken = env:SMAP_TEST_REPORTS', `DataDir = ${dataDir}`, '', '[token scada]', 'Secret = env:SMAP_TEST_SCADA', 'Scope = actuate', '', '[/]', `uuid = ${ROOT}`, ''].join('\n')
  const inst = await loadText(text, join(tmpdir(), 'conf.ini'), { logger: quiet })
  inst.addDriver(root ? '/' : '/meter', meter, {}, { minWriteIntervalMs: 0 })
  return inst
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked field by field
async function call(server: SmapServer, method: string, path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${server.url}${path}`, { method, ...init })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }
}

describe('driver control over HTTP', () => {
  let dir: string
  let inst: SmapInstance
  let server: SmapServer
  beforeEach(async () => {
    Object.assign(log, { setups: 0, starts: 0, stops: 0, polls: 0 })
    dir = await mkdtemp(join(tmpdir(), 'smap-drivers-'))
    inst = await make(join(dir, 'data'))
    server = await serve(inst, { port: 0 })
    await until(() => inst.drivers.get('/meter')?.state === 'running')
  })
  afterEach(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('lists the drivers with the status /status has, and shows one', async () => {
    const list = await call(server, 'GET', '/drivers')
    expect(list.status).toBe(200)
    expect(Object.keys(list.body)).toEqual(['/meter'])
    expect(list.body['/meter']).toMatchObject({ driver: 'meter', state: 'running', restarts: 0, lastError: null, health: null, disabled: false })
    const status = await call(server, 'GET', '/status')
    expect(Object.keys(status.body.drivers)).toEqual(['/meter'])
    expect({ ...status.body.drivers['/meter'], lastReadingTime: 0 }).toEqual({ ...list.body['/meter'], lastReadingTime: 0 })
    expect((await call(server, 'GET', '/drivers/meter')).body).toMatchObject({ path: '/meter', driver: 'meter', state: 'running' })
  })

  it('restarts a driver now: its stop and start run again, 202 with its status', async () => {
    const res = await call(server, 'POST', '/drivers/meter/restart')
    expect(res.status).toBe(202)
    expect(res.body).toMatchObject({ path: '/meter', driver: 'meter', restarts: 1, disabled: false })
    expect(['starting', 'running']).toContain(res.body.state)
    await until(() => inst.drivers.get('/meter')?.state === 'running')
    expect(log).toMatchObject({ setups: 1, starts: 2, stops: 1 })
    await inst.actuation.audit.flushed()
    const audit = (await readFile(join(dir, 'data', 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    expect(audit.at(-1)).toMatchObject({ path: '/meter', state: 'restart', kind: 'driver', result: 'ok', status: 202, principal: { via: 'loopback' } })
  })

  it('disables a driver (stopped, streams kept, writes refused), keeps it so across a restart of the source, and enables it again', async () => {
    const off = await call(server, 'PUT', '/drivers/meter?enabled=false')
    expect(off.status).toBe(200)
    expect(off.body).toMatchObject({ path: '/meter', state: 'disabled', disabled: true })
    expect(log.stops).toBe(1)
    const polls = log.polls
    await new Promise((r) => setTimeout(r, 300))
    expect(log.polls).toBe(polls)
    expect((await call(server, 'GET', '/data/meter/power')).status).toBe(200)
    expect((await call(server, 'GET', '/status')).body.drivers['/meter']).toMatchObject({ state: 'disabled', disabled: true })
    const write = await call(server, 'PUT', '/data/meter/relay?state=1')
    expect(write.status).toBe(503)
    expect(write.body.error).toContain('is disabled; enable it with PUT /drivers/meter?enabled=true')
    const restart = await call(server, 'POST', '/drivers/meter/restart')
    expect(restart).toMatchObject({ status: 409, body: { code: 'SMAP_DRIVER_DISABLED', error: 'driver /meter (meter) is disabled; enable it first with PUT /drivers/meter?enabled=true' } })
    expect(JSON.parse(await readFile(join(dir, 'data', 'disabled-drivers.json'), 'utf8'))).toEqual({ disabled: { '/meter': { since: expect.any(Number), by: 'loopback:127.0.0.1' } } })

    // the same config and data dir, a new process: set up (its streams show), not started
    await server.close()
    Object.assign(log, { setups: 0, starts: 0, stops: 0 })
    inst = await make(join(dir, 'data'))
    server = await serve(inst, { port: 0 })
    expect(log).toMatchObject({ setups: 1, starts: 0 })
    expect((await call(server, 'GET', '/drivers/meter')).body).toMatchObject({ state: 'disabled', disabled: true })
    expect((await call(server, 'GET', '/data/meter/power')).status).toBe(200)

    const on = await call(server, 'PUT', '/drivers/meter?enabled=true')
    expect(on).toMatchObject({ status: 200, body: { disabled: false } })
    await until(() => inst.drivers.get('/meter')?.state === 'running')
    expect(log.starts).toBe(1)
    expect(JSON.parse(await readFile(join(dir, 'data', 'disabled-drivers.json'), 'utf8'))).toEqual({ disabled: {} })
    // asking for what it already is changes nothing
    expect((await call(server, 'PUT', '/drivers/meter?enabled=true')).body).toMatchObject({ state: 'running', disabled: false })
  })

  it('answers a wrong path with 404 naming the drivers, a wrong method with 405 and Allow, garbage with 400', async () => {
    expect(await call(server, 'POST', '/drivers/nothing/restart')).toMatchObject({ status: 404, body: { error: 'no driver is attached at /nothing/restart (/drivers/nothing/restart); attached: /meter' } })
    expect(await call(server, 'GET', '/drivers/nothing')).toMatchObject({ status: 404, body: { error: 'no driver is attached at /nothing (/drivers/nothing); attached: /meter' } })
    expect(await call(server, 'GET', '/drivers/meter/power')).toMatchObject({ status: 404 })
    const get = await call(server, 'GET', '/drivers/meter/restart')
    expect(get).toMatchObject({ status: 405, body: { error: 'GET is not allowed on /drivers/meter/restart; use POST to restart driver /meter' } })
    expect(get.headers.get('allow')).toBe('POST')
    const del = await call(server, 'DELETE', '/drivers/meter')
    expect(del.status).toBe(405)
    expect(del.headers.get('allow')).toBe('GET, HEAD, PUT')
    expect((await call(server, 'POST', '/drivers/meter')).body.error).toBe('POST is not allowed on /drivers/meter; use GET, or PUT with ?enabled=true|false; to restart it, POST /drivers/meter/restart')
    const put = await call(server, 'PUT', '/drivers')
    expect(put.status).toBe(405)
    expect(put.headers.get('allow')).toBe('GET, HEAD')
    for (const q of ['', '?enabled=maybe', '?enabled=true&enabled=false']) {
      const res = await call(server, 'PUT', `/drivers/meter${q}`)
      expect(res.status).toBe(400)
      expect(res.body.error).toMatch(/^give exactly one enabled=true or enabled=false \((none was given|got .*)\): PUT \/drivers\/meter\?enabled=false disables the driver, \?enabled=true enables it$/)
    }
    expect(await call(server, 'GET', '/drivers/a%20b')).toMatchObject({ status: 400 })
    expect(inst.drivers.get('/meter')?.state).toBe('running')
  })

  it('is authenticated like actuation: another machine needs a token of scope actuate, and a refusal is audited', async () => {
    const app = createApp(inst)
    const from = (method: string, path: string, auth?: string): Promise<Response> =>
      Promise.resolve(app.fetch(new Request(`http://source${path}`, { method, headers: auth ? { Authorization: auth } : {} }), { incoming: { socket: { remoteAddress: '10.1.2.3' } } }))
    const none = await from('POST', '/drivers/meter/restart')
    expect(none.status).toBe(403)
    expect(((await none.json()) as { error: string }).error).toBe('equipment can be changed only from this machine or with a bearer token (Authorization: Bearer ...)')
    const reports = await from('PUT', '/drivers/meter?enabled=false', `Bearer ${REPORTS}`)
    expect(reports.status).toBe(403)
    expect(((await reports.json()) as { error: string }).error).toMatch(/^token ReportToken has scope reports, which lacks actuate/)
    expect((await from('POST', '/drivers/meter/restart', 'Basic dXNlcjpwYXNz')).status).toBe(401)
    expect(inst.drivers.get('/meter')?.restarts).toBe(0)
    // reading is open, as GET /data is
    expect((await from('GET', '/drivers')).status).toBe(200)
    const ok = await from('POST', '/drivers/meter/restart', `Bearer ${SCADA}`)
    expect(ok.status).toBe(202)
    expect(inst.drivers.get('/meter')?.restarts).toBe(1)
    // a page on another site cannot act for this machine's browser
    const cross = await fetch(`${server.url}/drivers/meter?enabled=false`, { method: 'PUT', headers: { Origin: 'http://evil.example' } })
    expect(cross.status).toBe(403)
    await inst.actuation.audit.flushed()
    const audit = (await readFile(join(dir, 'data', 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    expect(audit.map((a) => [a.principal.via, a.state, a.result, a.status])).toEqual([
      ['unauthenticated', 'restart', 'forbidden', 403],
      ['unauthenticated', 'disabled', 'forbidden', 403],
      ['unauthenticated', 'restart', 'forbidden', 401],
      ['token', 'restart', 'ok', 202],
      ['unauthenticated', 'disabled', 'forbidden', 403],
    ])
    expect(inst.drivers.get('/meter')?.disabled).toBe(false)
  })

  it('ignores a disabled entry whose driver the config no longer has, and starts with every driver enabled after a damaged file', async () => {
    await server.close()
    await mkdir(join(dir, 'data'), { recursive: true })
    await writeFile(join(dir, 'data', 'disabled-drivers.json'), JSON.stringify({ disabled: { '/gone': { since: 1, by: 'loopback:127.0.0.1' } } }))
    inst = await make(join(dir, 'data'))
    server = await serve(inst, { port: 0 })
    await until(() => inst.drivers.get('/meter')?.state === 'running')
    await server.close()
    await writeFile(join(dir, 'data', 'disabled-drivers.json'), '{"disabled": [')
    inst = await make(join(dir, 'data'))
    server = await serve(inst, { port: 0 })
    await until(() => inst.drivers.get('/meter')?.state === 'running')
    expect((await readdir(join(dir, 'data'))).filter((f) => f.startsWith('disabled-drivers.json.damaged-'))).toHaveLength(1)
  })
})

describe('the root driver', () => {
  it('is /drivers/+', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smap-drivers-root-'))
    const inst = await make(join(dir, 'data'), true)
    const server = await serve(inst, { port: 0 })
    try {
      await until(() => inst.drivers.get('/')?.state === 'running')
      expect((await call(server, 'GET', '/drivers')).body).toHaveProperty(['/'])
      expect((await call(server, 'GET', '/drivers/+')).body).toMatchObject({ path: '/', state: 'running' })
      expect((await call(server, 'POST', '/drivers/+/restart')).status).toBe(202)
      expect((await call(server, 'PUT', '/drivers/+?enabled=false')).body).toMatchObject({ path: '/', state: 'disabled' })
      expect((await call(server, 'GET', '/drivers/nothing')).body.error).toBe('no driver is attached at /nothing (/drivers/nothing); attached: /+')
    } finally {
      await server.close()
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('onDriverChange', () => {
  let dir: string
  let inst: SmapInstance | undefined
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-onchange-'))
  })
  afterEach(async () => {
    await inst?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('tells each listener every state, and a listener that throws is logged without harming the driver', async () => {
    inst = await make(dir)
    const errors: string[] = []
    inst.logger.error = (message: string) => errors.push(message)
    const seen: string[] = []
    inst.onDriverChange(() => {
      throw new Error('a careless listener')
    })
    const stop = inst.onDriverChange((path, status) => seen.push(`${path} ${status.state}`))
    await inst.start()
    await until(() => seen.includes('/meter running'))
    await inst.setDriverEnabled('/meter', false)
    await until(() => seen.includes('/meter disabled'))
    stop()
    const count = seen.length
    await inst.setDriverEnabled('/meter', true)
    await until(() => inst?.driverStatus()['/meter']?.state === 'running')
    expect(seen.length).toBe(count) // stopped listening
    expect(errors.length).toBeGreaterThan(0)
    expect(errors[0]).toBe('a driver-change listener failed on /meter')
  })
})
