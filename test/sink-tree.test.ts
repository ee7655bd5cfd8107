// smap sink (a receiver for reports) and smap tree (a look at a running source), end to end.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runSmap, SMAP_BIN, start, type Running } from './_process.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
// uuid5(uuid5(ROOT, '/instrument0'), 'mysensor'): the tutorial driver's stream, named by its key
const SENSOR_UUID = 'bc94dc3f-1231-54a6-b6b6-2e9bb8c01eb3'
// uuid5(ROOT, 'report 0')
const REPORT_UUID = 'ca3fdb71-af0c-57d8-9e9f-2da9c41c1d96'

const T0 = Date.UTC(2026, 10, 28, 7, 40, 0)
const FIRST = {
  '/': { Contents: ['instrument0'] },
  '/instrument0': { Contents: ['sensor0'], Metadata: { Instrument: { Manufacturer: 'sMAP Implementer Forum' } } },
  '/instrument0/sensor0': {
    uuid: SENSOR_UUID,
    Properties: { UnitofMeasure: 'V', ReadingType: 'long', Timezone: 'America/Los_Angeles' },
    Readings: [[T0, 40], [T0 + 1000, 41], [T0 + 2000, 42]],
  },
}
// later deliveries carry only uuid and Readings
const LATER = { '/instrument0/sensor0': { uuid: SENSOR_UUID, Readings: [[T0 + 3000, 43]] } }

describe('smap sink and smap tree', () => {
  let dir: string
  let procs: Running[] = []
  let servers: Server[] = []

  const spawnSmap = (args: string[]): Running => {
    const p = start(SMAP_BIN, args, { cwd: dir })
    procs.push(p)
    return p
  }
  /** Starts `smap sink --port 0 ...` and resolves with its /add URL. */
  const startSink = async (args: string[] = []): Promise<{ sink: Running; add: string }> => {
    const sink = spawnSmap(['sink', '--port', '0', ...args])
    const [, add] = await sink.waitFor(/sink listening on (http:\/\/127\.0\.0\.1:\d+\/add)/)
    return { sink, add: add as string }
  }
  const post = (url: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } })
  /** A stand-in source answering fixed responses by path, for what a real one on loopback cannot show. */
  const fakeSource = async (routes: Record<string, [number, string, string]>): Promise<string> => {
    const server = createServer((req, res) => {
      const [status, type, body] = routes[req.url ?? ''] ?? [404, 'application/json', '{"error":"no resource"}']
      res.writeHead(status, { 'Content-Type': type }).end(body)
    })
    servers.push(server)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-sink-'))
  })
  afterEach(async () => {
    for (const p of procs) p.child.kill('SIGKILL')
    await Promise.all(procs.map((p) => p.exited))
    procs = []
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
    servers = []
    await rm(dir, { recursive: true, force: true })
  })

  it('prints one line per stream batch, with the unit it learnt from the first report', async () => {
    const { sink, add } = await startSink()
    expect((await post(add, JSON.stringify(FIRST))).status).toBe(200)
    await sink.waitFor(/sensor0 .* at 2026-11-28T07:40:02\.000Z\n/)
    const later = await post(add, JSON.stringify(LATER))
    expect(later.status).toBe(200)
    expect(await later.text()).toBe('')
    await sink.waitFor(/at 2026-11-28T07:40:03\.000Z\n/)
    expect(sink.output().replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z /gm, 'TIME ')).toBe(
      [
        `sink listening on ${add}`,
        'TIME /instrument0/sensor0 bc94dc3f… 3 readings, last 42 V at 2026-11-28T07:40:02.000Z',
        'TIME /instrument0/sensor0 bc94dc3f… 1 reading, last 43 V at 2026-11-28T07:40:03.000Z',
        '',
      ].join('\n'),
    )
  })

  it('appends plain and gzip reports to the --out file as JSON lines and flushes it on SIGINT', async () => {
    const out = join(dir, 'reports.jsonl')
    const { sink, add } = await startSink(['--out', out])
    expect(sink.output()).toContain(`(appending to ${out})`)
    const before = Date.now()
    expect((await post(add, JSON.stringify(FIRST), { 'X-Smap-Batch-Id': 'r1:1.0.0-1.0.3' })).status).toBe(200)
    const gzipped = await post(`${add.replace(/\/add$/, '')}/any/path`, gzipSync(JSON.stringify(LATER)), { 'Content-Encoding': 'gzip' })
    expect(gzipped.status).toBe(200)
    // what the original sMAP sent (zlib labelled gzip), and deflate both as zlib and raw, as clients send it
    const third = { '/instrument0/sensor0': { uuid: SENSOR_UUID, Readings: [[T0 + 4000, 44]] } }
    expect((await post(add, deflateSync(JSON.stringify(third)), { 'Content-Encoding': 'gzip' })).status).toBe(200)
    const fourth = { '/instrument0/sensor0': { uuid: SENSOR_UUID, Readings: [[T0 + 5000, 45]] } }
    expect((await post(add, deflateSync(JSON.stringify(fourth)), { 'Content-Encoding': 'deflate' })).status).toBe(200)
    const fifth = { '/instrument0/sensor0': { uuid: SENSOR_UUID, Readings: [[T0 + 6000, 46]] } }
    expect((await post(add, deflateRawSync(JSON.stringify(fifth)), { 'Content-Encoding': 'deflate' })).status).toBe(200)
    // an empty report (a keepalive) is acknowledged and writes nothing
    expect((await post(add, '{}')).status).toBe(200)
    sink.child.kill('SIGINT')
    expect(await sink.exited).toBe(0)

    const lines = (await readFile(out, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as { received: number })
    expect(lines).toEqual([
      { received: expect.any(Number), batch: 'r1:1.0.0-1.0.3', path: '/instrument0/sensor0', uuid: SENSOR_UUID, readings: FIRST['/instrument0/sensor0'].Readings, unit: 'V' },
      { received: expect.any(Number), batch: null, path: '/instrument0/sensor0', uuid: SENSOR_UUID, readings: [[T0 + 3000, 43]], unit: 'V' },
      { received: expect.any(Number), batch: null, path: '/instrument0/sensor0', uuid: SENSOR_UUID, readings: [[T0 + 4000, 44]], unit: 'V' },
      { received: expect.any(Number), batch: null, path: '/instrument0/sensor0', uuid: SENSOR_UUID, readings: [[T0 + 5000, 45]], unit: 'V' },
      { received: expect.any(Number), batch: null, path: '/instrument0/sensor0', uuid: SENSOR_UUID, readings: [[T0 + 6000, 46]], unit: 'V' },
    ])
    for (const l of lines) expect(l.received).toBeGreaterThanOrEqual(before)
    expect(sink.output()).toMatch(/Z 3 readings of 1 stream -> .*reports\.jsonl\n(.*Z 1 reading of 1 stream -> .*reports\.jsonl\n){4}.*Z empty report\nsink stopped\n$/)
  })

  it('answers malformed reports with 400 and a one-line reason, and keeps running', async () => {
    const { sink, add } = await startSink()
    const refused = async (body: string | Buffer, headers?: Record<string, string>): Promise<[number, string]> => {
      const res = await post(add, body, headers)
      return [res.status, await res.text()]
    }
    expect(await refused('{"/a": ')).toEqual([400, `report body is not JSON: ${jsonError('{"/a": ')}\n`])
    expect(await refused('[1, 2]')).toEqual([400, 'a report must be a JSON object keyed by path, got an array\n'])
    expect(await refused('{"/a": {"uuid": "x", "Readings": [1, 2]}}')).toEqual([400, '"/a": Readings must be a list of [time, value] pairs, time in Unix milliseconds\n'])
    expect(await refused('{"/a": {"Readings": []}}')).toEqual([400, '"/a": a timeseries needs a uuid\n'])
    expect(await refused('not gzip', { 'Content-Encoding': 'gzip' })).toEqual([400, 'report body is not valid gzip: incorrect header check\n'])
    expect((await fetch(add)).status).toBe(405)
    await sink.waitFor(/warning: 400 to POST \/add from 127\.0\.0\.1: report body is not JSON: /)
    // still receiving
    expect((await post(add, JSON.stringify(LATER))).status).toBe(200)
    await sink.waitFor(/1 reading, last 43 at/)
    expect(sink.child.exitCode).toBe(null)
  })

  it('refuses a report over 64 MiB, before or after gunzip, with 413', async () => {
    const { add } = await startSink()
    // announced by Content-Length: refused without reading the body
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(add, { method: 'POST', headers: { 'Content-Length': String(64 * 1024 * 1024 + 1) } }, (res) => {
        resolve(res.statusCode ?? 0)
        res.resume()
      })
      req.on('error', reject)
      req.write('{')
    })
    expect(status).toBe(413)
    const bomb = await post(add, gzipSync(Buffer.alloc(64 * 1024 * 1024 + 1, ' ')), { 'Content-Encoding': 'gzip' })
    expect([bomb.status, await bomb.text()]).toEqual([413, 'report body larger than 64 MiB once decompressed\n'])
  })

  it('says in one line that the port is taken', async () => {
    const { add } = await startSink()
    const port = new URL(add).port
    expect(await runSmap(['sink', '--port', port])).toEqual({
      code: 1,
      output: `smap sink: port ${port} on 127.0.0.1 is already in use; stop what uses it or pick another with --port\n`,
    })
    expect(await runSmap(['sink', '--port', 'x'])).toEqual({ code: 1, output: 'smap sink: --port: expected a port number from 0 to 65535, got "x"\n' })
  })

  it('receives the readings of a running source, which smap tree shows with its report', async () => {
    const out = join(dir, 'reports.jsonl')
    const { add } = await startSink(['--out', out])
    await writeFile(
      join(dir, 'conf.ini'),
      `[/]\ntype = Collection\nuuid = ${ROOT}\n\n[/instrument0]\ntype = smap.driver.BaseDriver\nMetadata/Instrument/Manufacturer = sMAP Implementer Forum\n\n[report 0]\nReportDeliveryLocation = ${add}\nReportResource = /+\n`,
    )
    const source = spawnSmap(['run', 'conf.ini', '--port', '0'])
    const [, url] = await source.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)

    type Line = { path: string; uuid: string; readings: Array<[number, number]>; unit?: string }
    let lines: Line[] = []
    for (let waited = 0; !lines.some((l) => l.readings.length > 0); waited += 100) {
      if (waited > 10_000) throw new Error(`no readings reached the sink; source output:\n${source.output()}`)
      await new Promise((r) => setTimeout(r, 100))
      const text = await readFile(out, 'utf8')
      lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line)
    }
    const first = lines.find((l) => l.readings.length > 0) as Line
    expect(first).toMatchObject({ path: '/instrument0/sensor0', uuid: SENSOR_UUID, unit: 'V' })
    expect(first.readings[0]?.[1]).toBe(0)

    const tree = await runSmap(['tree', url as string])
    expect(tree.code).toBe(0)
    expect(tree.output.replace(/ \d+ V +\S+Z \(\d+ s ago\)/, ' N V  TIME (N s ago)')).toBe(
      [
        `${url}/data: 2 collections, 1 timeseries`,
        '',
        '  /                     collection',
        '  /instrument0          collection',
        '  /instrument0/sensor0  N V  TIME (N s ago)',
        '',
        '1 report:',
        '',
        `  ${REPORT_UUID}  /+  -> ${add}`,
        '',
      ].join('\n'),
    )
    // a part of the tree
    const part = await runSmap(['tree', `${url}/data/instrument0`])
    expect(part.output).toMatch(/^http:\/\/\S+\/data\/instrument0: 1 collection, 1 timeseries\n\n {2}\/instrument0 {10}collection\n {2}\/instrument0\/sensor0 {2}\d+ V/)
  })

  it('says that reports are not visible, and why, when /reports answers 403', async () => {
    const t = Date.now() - 3 * 3600_000
    const base = await fakeSource({
      '/data/+': [200, 'application/json', JSON.stringify({ '/': { Contents: ['a', 'b'], Metadata: { SourceName: 'Far' } }, '/a': { uuid: 'u', Properties: { UnitofMeasure: 'kW' }, Readings: [[t, 1.5]] }, '/b': { uuid: 'v', Properties: { UnitofMeasure: 'C' }, Readings: [] } })],
      '/reports': [403, 'application/json', '{"error":"subscriptions can be managed only from this machine; set ReportToken in [server] to allow others with a bearer token"}'],
    })
    const { code, output } = await runSmap(['tree', `${base}/`])
    expect(code).toBe(0)
    expect(output).toBe(
      [
        `${base}/data (Far): 1 collection, 2 timeseries`,
        '',
        '  /   collection',
        `  /a  1.5 kW       ${new Date(t).toISOString()} (3 h ago)`,
        '  /b  no readings',
        '',
        'reports: not visible; the source refused (403: subscriptions can be managed only from this machine; set ReportToken in [server] to allow others with a bearer token)',
        '',
      ].join('\n'),
    )
  })

  it('explains in one line a source that cannot be reached or does not answer JSON', async () => {
    const closed = await fakeSource({})
    await new Promise((resolve) => (servers.pop() as Server).close(resolve))
    expect(await runSmap(['tree', closed])).toEqual({ code: 1, output: `smap tree: cannot reach ${closed}/data/+: connection refused (is the source running?)\n` })

    const web = await fakeSource({ '/data/+': [200, 'text/html', '<!doctype html><title>Router</title>'], '/reports': [200, 'text/html', '<html>'] })
    expect(await runSmap(['tree', web])).toEqual({
      code: 1,
      output: `smap tree: ${web}/data/+ answered 200 OK with text/html "<!doctype html><title>Router</title>", not JSON; is it an sMAP source?\n`,
    })
    expect(await runSmap(['tree', `${web}/data/nope`])).toEqual({ code: 1, output: `smap tree: ${web}/data/nope/+ answered 404: no resource\n` })
    expect(await runSmap(['tree', 'ftp://x'])).toEqual({ code: 1, output: 'smap tree: "ftp://x" must be an http:// or https:// URL\n' })
  })
})

/** The message JSON.parse gives for `text` on this Node. */
function jsonError(text: string): string {
  try {
    JSON.parse(text)
    return ''
  } catch (err) {
    return (err as Error).message
  }
}
