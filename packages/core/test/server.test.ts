import { request } from 'node:http'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { collectionObjectSchema, timeseriesObjectSchema } from '@smap/sdk'
import { serve, SmapInstance, type SmapServer } from '@smap/core'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

async function get(server: SmapServer, path: string, init?: RequestInit): Promise<{ status: number; type: string | null; body: unknown }> {
  const res = await fetch(`${server.url}${path}`, init)
  const text = await res.text()
  return { status: res.status, type: res.headers.get('content-type'), body: text === '' ? undefined : JSON.parse(text) }
}

/** A request fetch() would refuse to send, written on a raw socket. */
function rawGet(server: SmapServer, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method: 'GET' }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => (body += d.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('the HTTP server', () => {
  let inst: SmapInstance
  let server: SmapServer

  beforeEach(async () => {
    inst = new SmapInstance(ROOT)
    inst.addCollection('/instrument0')
    inst.setMetadata('/instrument0', { 'Instrument/Manufacturer': 'sMAP Implementer Forum' })
    inst.addTimeseries('/instrument0/sensor0', 'sensor0', 'V')
    server = await serve(inst, { port: 0 })
  })
  afterEach(async () => {
    await server.close()
  })

  it('listens on loopback at the port it reports', () => {
    expect(server.port).toBeGreaterThan(0)
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
  })

  it('answers / with its contents', async () => {
    expect(await get(server, '/')).toEqual({ status: 200, type: 'application/json', body: { Contents: ['data', 'reports'] } })
  })

  it('answers the tutorial curl for /data/instrument0/sensor0', async () => {
    expect(await get(server, '/data/instrument0/sensor0')).toEqual({
      status: 200,
      type: 'application/json',
      body: {
        uuid: 'b37e5c5f-e9b0-59a6-8275-08729beeff46',
        Properties: { ReadingType: 'long', Timezone: 'America/Los_Angeles', UnitofMeasure: 'V' },
        Readings: [],
      },
    })
  })

  it('serves the latest readings as they are added', async () => {
    inst.add('/instrument0/sensor0', 1700000000000, 42)
    expect((await get(server, '/data/instrument0/sensor0')).body).toMatchObject({ Readings: [[1700000000000, 42]] })
  })

  it('serves the root at /data and /data/, and collections with trailing slashes', async () => {
    const root = { status: 200, type: 'application/json', body: { Contents: ['instrument0'] } }
    expect(await get(server, '/data')).toEqual(root)
    expect(await get(server, '/data/')).toEqual(root)
    expect((await get(server, '/data/instrument0/')).body).toEqual({
      Contents: ['sensor0'],
      Metadata: { Instrument: { Manufacturer: 'sMAP Implementer Forum' } },
    })
  })

  it('serves objects that match the wire schemas of DESIGN.md §3', async () => {
    inst.setMetadata('/instrument0/sensor0', { 'Extra/Phase': 'A' })
    inst.add('/instrument0/sensor0', 1700000000000, 42)
    const all = (await get(server, '/data/+')).body as Record<string, unknown>
    expect(timeseriesObjectSchema.strict().parse(all['/instrument0/sensor0'])).toBeTruthy()
    expect(collectionObjectSchema.strict().parse(all['/instrument0'])).toBeTruthy()
    expect(collectionObjectSchema.strict().parse(all['/'])).toBeTruthy()
  })

  it('answers PATH/+ with everything below, keyed by relative path', async () => {
    const sensor = (await get(server, '/data/instrument0/sensor0')).body
    const coll = (await get(server, '/data/instrument0')).body
    expect((await get(server, '/data/instrument0/+')).body).toEqual({ '/': coll, '/sensor0': sensor })
    expect((await get(server, '/data/+')).body).toEqual({ '/': { Contents: ['instrument0'] }, '/instrument0': coll, '/instrument0/sensor0': sensor })
  })

  it('answers an unknown path with a 404 naming it', async () => {
    expect(await get(server, '/data/instrument0/nothing')).toEqual({ status: 404, type: 'application/json', body: { error: 'no resource at /data/instrument0/nothing' } })
    expect(await get(server, '/nothing')).toEqual({ status: 404, type: 'application/json', body: { error: 'no resource at /nothing' } })
  })

  it('answers HEAD without a body', async () => {
    const res = await fetch(`${server.url}/data/instrument0/sensor0`, { method: 'HEAD' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
  })

  it('answers garbage with a 4xx and a one-line reason, never a 500', async () => {
    expect(await rawGet(server, '/data/%ZZ%')).toMatchObject({ status: 404 })
    expect(await rawGet(server, '/data/../../etc/passwd')).toMatchObject({ status: 404 })
    expect(await rawGet(server, `/data/${'a'.repeat(9000)}`)).toMatchObject({ status: 414 })
    const del = await get(server, '/data/instrument0', { method: 'DELETE' })
    expect(del).toEqual({ status: 405, type: 'application/json', body: { error: 'DELETE is not allowed on /data/instrument0; use GET' } })
    const big = await get(server, '/data/instrument0', { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) })
    expect(big).toEqual({ status: 413, type: 'application/json', body: { error: 'request body larger than 1048576 bytes' } })
    for (const r of [del, big]) expect(JSON.stringify(r.body)).not.toContain('\n')
  })

  it('frees its port on close', async () => {
    const port = server.port
    await server.close()
    server = await serve(inst, { port })
    expect(server.port).toBe(port)
  })

  it('says when the port is taken', async () => {
    await expect(serve(inst, { port: server.port })).rejects.toThrow(
      `port ${server.port} on 127.0.0.1 is already in use; stop what uses it or pick another port (--port, or Port in [server])`,
    )
  })

  it('uses the port from the config when none is given', async () => {
    const other = new SmapInstance(ROOT, { server: { port: 0 } })
    const s = await serve(other)
    expect(s.port).toBeGreaterThan(0)
    await s.close()
  })
})
