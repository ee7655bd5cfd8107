import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { defineDriver, timeseriesObjectSchema } from '@smap/sdk'
import { serve, SmapInstance, type SmapServer } from '@smap/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

/** The equipment behind the driver: what the tests look at on the device side. */
interface Device {
  setpoint: number
  relay: 0 | 1
  writes: Array<{ path: string; value: unknown; by: string }>
  refuse?: string
  hangMs?: number
  /** Its next poll throws, once. */
  crash?: boolean
}

function plant(device: Device) {
  return defineDriver({
    name: 'plant',
    setup(ctx) {
      ctx.addActuator('/setpoint', {
        unit: 'C',
        model: 'continuous',
        min: 10,
        max: 30,
        timeout: 0.3,
        async write(value, { principal, signal }) {
          if (device.refuse) throw new Error(device.refuse)
          if (device.hangMs) await new Promise((resolve) => setTimeout(resolve, device.hangMs))
          signal.throwIfAborted()
          device.writes.push({ path: '/setpoint', value, by: `${principal.via}:${principal.name}` })
          device.setpoint = value as number
        },
        read: () => device.setpoint,
      })
      ctx.addActuator('/relay', {
        unit: 'on/off',
        model: 'binary',
        write(value, { principal }) {
          device.writes.push({ path: '/relay', value, by: `${principal.via}:${principal.name}` })
          device.relay = value as 0 | 1
        },
      })
      ctx.addTimeseries('/power', { unit: 'kW', readingType: 'double' })
    },
    start(ctx) {
      ctx.periodic(() => {
        if (!device.crash) return
        device.crash = false
        throw new Error('the meter went away')
      }, 0.05)
    },
  })
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- answers are checked field by field
async function call(server: SmapServer, method: string, path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(`${server.url}${path}`, { method, ...init })
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text === '' ? undefined : JSON.parse(text) }
}
const json = (body: unknown): RequestInit => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
const until = async (check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> => {
  const end = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('actuation over HTTP', () => {
  let dir: string
  let device: Device
  let inst: SmapInstance
  let server: SmapServer

  const start = async (options: { minWriteIntervalMs?: number; jobGrace?: number } = {}): Promise<void> => {
    inst = new SmapInstance(ROOT, { server: { dataDir: dir, ...(options.jobGrace === undefined ? {} : { jobGrace: options.jobGrace }) }, logger: { info() {}, warn() {}, error() {} } })
    inst.addDriver('/plant', plant(device), {}, { minWriteIntervalMs: options.minWriteIntervalMs ?? 0 })
    server = await serve(inst, { port: 0 })
  }
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-actuate-'))
    device = { setpoint: 20, relay: 0, writes: [] }
  })
  afterEach(async () => {
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('PUT writes, answering the point with its new reading; POST does the same', async () => {
    await start()
    const r = await call(server, 'PUT', '/data/plant/setpoint?state=22.5')
    expect(r.status).toBe(200)
    expect(r.body.State).toBe(22.5)
    expect(r.body.Reading[1]).toBe(22.5)
    expect(r.body.Actuator).toEqual({ Model: 'continuous', MinValue: 10, MaxValue: 30 })
    expect(timeseriesObjectSchema.parse({ ...r.body, State: undefined, Reading: undefined })).toBeTruthy()
    expect(device.writes).toEqual([{ path: '/setpoint', value: 22.5, by: 'loopback:127.0.0.1' }])
    const p = await call(server, 'POST', '/data/plant/relay?state=on')
    expect([p.status, p.body.State]).toEqual([200, 1])
    // the served object says how it can be changed, and / lists jobs
    expect((await call(server, 'GET', '/data/plant/relay')).body.Actuator).toEqual({ Model: 'binary', States: [['0', 'off'], ['1', 'on']] })
    expect((await call(server, 'GET', '/')).body).toEqual({ Contents: ['data', 'reports', 'jobs'] })
  })

  it('answers 400 naming the accepted states, and never reaches the device', async () => {
    await start()
    const r = await call(server, 'PUT', '/data/plant/setpoint?state=31')
    expect(r.status).toBe(400)
    expect(r.body).toEqual({ error: '/plant/setpoint cannot take the state "31": it takes a number from 10 to 30', code: 'SMAP_STATE_INVALID' })
    const none = await call(server, 'PUT', '/data/plant/relay')
    expect(none.status).toBe(400)
    expect(none.body.error).toBe('give exactly one state: PUT /data/plant/relay?state=V, where V is 0 or 1 (also off/on, false/true)')
    expect(device.writes).toEqual([])
  })

  it('answers 405 with Allow on what cannot be written, 404 on what is not there', async () => {
    await start()
    const ts = await call(server, 'PUT', '/data/plant/power?state=1')
    expect([ts.status, ts.headers.get('allow')]).toEqual([405, 'GET, HEAD'])
    expect(ts.body.error).toContain('/plant/power is a timeseries that cannot be written')
    expect((await call(server, 'PUT', '/data/plant?state=1')).status).toBe(405)
    expect((await call(server, 'PUT', '/data/plant/+?state=1')).status).toBe(405)
    expect((await call(server, 'PUT', '/data/nothing?state=1')).status).toBe(404)
    const del = await call(server, 'DELETE', '/data/plant/relay')
    expect([del.status, del.headers.get('allow')]).toEqual([405, 'GET, HEAD, PUT, POST'])
  })

  it('answers 429 with Retry-After inside the minimum interval', async () => {
    await start({ minWriteIntervalMs: 5000 })
    expect((await call(server, 'PUT', '/data/plant/relay?state=1')).status).toBe(200)
    const again = await call(server, 'PUT', '/data/plant/relay?state=0')
    expect(again.status).toBe(429)
    expect(again.headers.get('retry-after')).toBe('5')
    expect(device.writes).toHaveLength(1)
  })

  it("answers 502 with the driver's message when the device refuses, 504 when it does not answer in time", async () => {
    await start()
    device.refuse = 'setpoint locked at the panel'
    const refused = await call(server, 'PUT', '/data/plant/setpoint?state=21')
    expect(refused.status).toBe(502)
    expect(refused.body).toEqual({ error: 'the write to /plant/setpoint failed: setpoint locked at the panel', code: 'SMAP_ACTUATE_REFUSED' })
    device.refuse = undefined
    device.hangMs = 1000
    const late = await call(server, 'PUT', '/data/plant/setpoint?state=22')
    expect(late.status).toBe(504)
    expect(late.body.error).toBe('the device did not complete the write to /plant/setpoint within 0.3 s')
    // the server goes on
    device.hangMs = undefined
    expect((await call(server, 'PUT', '/data/plant/setpoint?state=23')).status).toBe(200)
  })

  it('refuses a cross-site write from a browser page, and a malformed Authorization header', async () => {
    await start()
    const page = await call(server, 'PUT', '/data/plant/relay?state=1', { headers: { origin: 'http://evil.example' } })
    expect(page.status).toBe(403)
    const basic = await call(server, 'PUT', '/data/plant/relay?state=1', { headers: { authorization: 'Basic dTpw' } })
    expect(basic.status).toBe(401)
    expect(device.writes).toEqual([])
  })

  it('keeps every attempt in the audit log on disk and shows the latest in /status', async () => {
    await start()
    await call(server, 'PUT', '/data/plant/relay?state=1')
    await call(server, 'PUT', '/data/plant/setpoint?state=99')
    await call(server, 'PUT', '/data/plant/relay?state=0', { headers: { origin: 'http://evil.example' } })
    await inst.actuation.audit.flushed()
    const lines = (await readFile(join(dir, 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    expect(lines.map((l) => [l.path, l.state, l.result, l.status])).toEqual([
      ['/plant/relay', '1', 'ok', 200],
      ['/plant/setpoint', '99', 'SMAP_STATE_INVALID', 400],
      ['/plant/relay', '0', 'forbidden', 403],
    ])
    expect(lines[0].principal).toEqual({ via: 'loopback', name: '127.0.0.1', address: '127.0.0.1' })
    const status = (await call(server, 'GET', '/status')).body
    expect(status.actuation.audit).toHaveLength(3)
    expect(status.actuation.points['/plant/relay']).toMatchObject({ model: 'binary', state: 1 })
  })

  it('runs jobs in order with After, and lists each action’s result', async () => {
    await start()
    const soon = Date.now() + 300
    const r = await call(server, 'PUT', '/jobs', json([
      { Name: 'second', After: 'first', Actions: [{ Path: '/plant/setpoint', State: 25 }] },
      { Name: 'first', StartTime: soon, Actions: [{ Path: '/plant/relay', State: 'on' }, { Path: '/plant/setpoint', State: '18' }] },
    ]))
    // "second" names "first", which comes later in the list: refused as a whole
    expect(r.status).toBe(400)
    const ok = await call(server, 'PUT', '/jobs', json([
      { Name: 'first', StartTime: soon, Actions: [{ Path: '/plant/relay', State: 'on' }, { Path: '/plant/setpoint', State: '18' }] },
      { Name: 'second', After: 'first', Actions: [{ Path: '/plant/setpoint', State: 25 }] },
    ]))
    expect(ok.status).toBe(201)
    expect(ok.body).toHaveLength(2)
    await until(async () => (await call(server, 'GET', '/jobs')).body.every((j: { state: string }) => j.state === 'done'))
    expect(device.writes.map((w) => [w.path, w.value])).toEqual([['/relay', 1], ['/setpoint', 18], ['/setpoint', 25]])
    expect(device.writes[0]?.by).toBe('job:job first (' + ok.body[0] + '), scheduled by 127.0.0.1')
    const first = (await call(server, 'GET', `/jobs/${ok.body[0]}`)).body
    expect(first.Actions.map((a: { result: string; reached: unknown }) => [a.result, a.reached])).toEqual([['done', 1], ['done', 18]])
    expect(first.started).toBeGreaterThanOrEqual(soon)
  })

  it('checks every action first: one 400 listing every problem, nothing scheduled', async () => {
    await start()
    const r = await call(server, 'POST', '/jobs', json({ Name: 'bad', Bogus: 1, Actions: [{ Path: '/plant/setpoint', State: 40 }, { Path: '/plant/power', State: 1 }, { Path: '/nowhere', State: 1 }, { State: 1 }] }))
    expect(r.status).toBe(400)
    expect(r.body.code).toBe('SMAP_JOB_INVALID')
    expect(r.body.error.split('\n')).toEqual([
      'nothing was scheduled:',
      '- the job: unknown field "Bogus": a job has Name, StartTime, After and Actions',
      '- the job, action 0: /plant/setpoint cannot take the state 40: it takes a number from 10 to 30',
      '- the job, action 1: /plant/power is a timeseries that cannot be written; only actuator points take a state',
      '- the job, action 2: no resource at /nowhere',
      '- the job, action 3: expected {"Path": "/path/of/point", "State": "1"}',
    ])
    expect((await call(server, 'GET', '/jobs')).body).toEqual([])
    expect((await call(server, 'POST', '/jobs', { body: 'Actions=1' })).status).toBe(415)
    expect((await call(server, 'POST', '/jobs', { headers: { 'content-type': 'application/json' }, body: '{' })).status).toBe(400)
  })

  it('cancels a scheduled job, and says so for one already ended', async () => {
    await start()
    const [uuid] = (await call(server, 'PUT', '/jobs', json({ StartTime: Date.now() + 60_000, Actions: [{ Path: '/plant/relay', State: 1 }] }))).body as string[]
    const gone = await call(server, 'DELETE', `/jobs/${uuid}`)
    expect([gone.status, gone.body.state]).toEqual([200, 'cancelled'])
    expect((await call(server, 'DELETE', `/jobs/${uuid}`)).status).toBe(409)
    expect((await call(server, 'DELETE', '/jobs/00000000-0000-4000-8000-000000000000')).status).toBe(404)
    expect((await call(server, 'DELETE', '/jobs/nope')).status).toBe(400)
    // a job after a cancelled one cannot be scheduled
    expect(device.writes).toEqual([])
  })

  it('brings scheduled jobs back after a restart; one whose time passed beyond JobGrace is missed', async () => {
    await start({ jobGrace: 500 })
    const later = Date.now() + 1500
    const soon = Date.now() + 200
    const [keep] = (await call(server, 'PUT', '/jobs', json({ Name: 'later', StartTime: later, Actions: [{ Path: '/plant/relay', State: 1 }] }))).body as string[]
    const [miss] = (await call(server, 'PUT', '/jobs', json({ Name: 'soon', StartTime: soon, Actions: [{ Path: '/plant/setpoint', State: 11 }] }))).body as string[]
    await server.close()
    await new Promise((r) => setTimeout(r, 900)) // "soon" passes while the source is down, by more than the grace
    await start({ jobGrace: 500 })
    const jobs = (await call(server, 'GET', '/jobs')).body as Array<{ uuid: string; state: string; reason?: string }>
    expect(jobs.find((j) => j.uuid === miss)).toMatchObject({ state: 'missed' })
    await until(async () => (await call(server, 'GET', `/jobs/${keep}`)).body.state === 'done')
    expect(device.writes.map((w) => w.path)).toEqual(['/relay'])
  })

  it('answers a write racing a restart of its driver with 503, and reads the device again once the driver runs', async () => {
    await start()
    device.hangMs = 250
    const pending = call(server, 'PUT', '/data/plant/setpoint?state=27')
    await new Promise((r) => setTimeout(r, 60))
    device.crash = true
    const r = await pending
    expect(r.status).toBe(503)
    expect(r.body.code).toBe('SMAP_ACTUATE_INTERRUPTED')
    expect(r.body.error).toContain("the driver /plant stopped during the write to /plant/setpoint; the device's state is read again when it runs")
    device.hangMs = undefined
    // while it restarts, writes are refused with when to try again
    const during = await call(server, 'PUT', '/data/plant/setpoint?state=26')
    expect(during.status).toBe(503)
    expect(during.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(during.body.error).toContain('is restarting after failing in poll: the meter went away')
    device.setpoint = 12 // changed at the panel meanwhile
    await until(() => inst.drivers.get('/plant')?.state === 'running')
    await until(() => inst.getTimeseries('/plant/setpoint')?.latest?.[1] === 12)
    expect((await call(server, 'PUT', '/data/plant/setpoint?state=26')).body.State).toBe(26)
  })
})
