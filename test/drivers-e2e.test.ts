import { existsSync, readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { uuid5 } from '@smap/core'
import { startSink, type Sink } from '../packages/core/test/_sink.js'
import { fixture, startFixtureServer, type FixtureServer } from '../packages/driver-caiso/test/_fixture-server.js'
import { startFakeMeter, type FakeMeter } from '../packages/driver-dent/test/fixtures/fake-meter.js'
import { elementRegisters, EXPECTED_A_SCALAR_1 } from '../packages/driver-dent/test/fixtures/registers.js'
import { addDays, caisoType, isActual, outlookReadings, pacificDate, pacificMidnight, type Ymd } from './_caiso.js'
import { SMAP_BIN, start, type Running } from './_process.js'

// The end-to-end test: the built `smap run` with both drivers under their classic names,
// the CAISO driver reading a local stand-in for caiso.com and OASIS, the Dent drivers reading a
// PowerScout simulator over RTU-over-TCP, all reporting to a sink on this machine.

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const NODE = 'TH_SP15_GEN-APND'
const OUTLOOK_FILES = ['demand', 'netdemand', 'fuelsource']
const packageDir = (name: string): string => fileURLToPath(new URL(`../packages/${name}`, import.meta.url))

// units of the Dent streams, by quantity (the original driver's)
const DENT_UNITS: Record<string, string> = {
  true_energy: 'kWh',
  reactive_energy: 'kVARh',
  apparent_energy: 'kVAh',
  true_power: 'kW',
  reactive_power: 'kVAR',
  apparent_power: 'kVA',
  displacement_pf: 'PF',
  apparent_pf: 'PF',
  current: 'A',
  line_frequency: 'Hz',
  'phase-neutral_voltage': 'V',
  volts: 'V',
}

type Payload = Sink['accepted'][number]['body'][string]

/** Readings of a path over the accepted reports, each batch id once (as `smap sink` keeps them). */
function readingsOf(sink: Sink, path: string): Array<[number, number]> {
  const seen = new Set<string>()
  return sink.accepted
    .filter((r) => r.batchId === undefined || (!seen.has(r.batchId) && seen.add(r.batchId)))
    .flatMap((r) => r.body[path]?.Readings ?? [])
}

/** The first full object (with Properties or Contents) the sink got for a path. */
function firstFull(sink: Sink, path: string): Payload | undefined {
  for (const r of sink.accepted) {
    const o = r.body[path]
    if (o && (o.Properties !== undefined || o.Contents !== undefined)) return o
  }
  return undefined
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(100)
  }
}

/**
 * What the CAISO driver should publish from the fixture server, worked out
 * from the files served and the requests the driver made: every non-empty row
 * of the Outlook files on the date they stand for, and the prices of each
 * OASIS window asked for.
 */
function expectedCaiso(fx: FixtureServer): Map<string, Array<[number, number]>> {
  const out = new Map<string, Array<[number, number]>>()
  const put = (path: string, readings: Array<[number, number]>): void => {
    const list = out.get(path) ?? []
    for (const r of readings) if (!list.some(([t]) => t === r[0])) list.push(r)
    out.set(path, list.sort((a, b) => a[0] - b[0]))
  }
  for (const file of OUTLOOK_FILES) {
    const asked = fx.requests.find((r) => r.path === `/outlook/current/${file}.csv`)
    if (!asked) throw new Error(`the driver never asked for ${file}.csv`)
    const now = Number(asked.query.get('_'))
    const csv = fixture(`outlook/${fx.current}/${file}.csv`).toString('utf8')
    // the current file is today's, unless its actual values would lie more than 30 minutes
    // ahead: then CAISO is still serving yesterday's (just after midnight)
    let date: Ymd = pacificDate(now)
    const latestActual = Math.max(...[...outlookReadings(csv, date, file)].filter(([p]) => isActual(p)).flatMap(([, rs]) => rs.map(([t]) => t)))
    if (latestActual > now + 30 * 60_000) date = addDays(date, -1)
    for (const [path, readings] of outlookReadings(csv, date, file)) put(path, readings)
  }
  for (const r of fx.requests.filter((q) => q.path === '/oasisapi/SingleZip')) {
    const q = r.query
    const when = (s: string | null): number => Date.parse(`${s?.slice(0, 4)}-${s?.slice(4, 6)}-${s?.slice(6, 8)}T${s?.slice(9, 14)}:00Z`)
    const [from, to] = [when(q.get('startdatetime')), when(q.get('enddatetime'))]
    const rtm = q.get('queryname') === 'PRC_INTVL_LMP'
    const [head, ...lines] = fixture(rtm ? 'oasis/PRC_INTVL_LMP_RTM_v3.csv' : 'oasis/PRC_LMP_DAM_v12.csv').toString('utf8').trimEnd().split('\n')
    const cols = (head as string).split(',')
    const col = (cells: string[], name: string): string => cells[cols.indexOf(name)] as string
    const byPath = new Map<string, Array<[number, number]>>()
    for (const line of lines) {
      const cells = line.split(',')
      const t = Date.parse(col(cells, 'INTERVALSTARTTIME_GMT')) + fx.oasisShiftMs
      if (col(cells, 'NODE') !== NODE || t < from || t >= to) continue
      const path = `/lmp/${NODE}/${rtm ? 'rtm' : 'dam'}/${col(cells, 'LMP_TYPE').toLowerCase()}`
      byPath.set(path, [...(byPath.get(path) ?? []), [t, Number(col(cells, rtm ? 'VALUE' : 'MW'))]])
    }
    for (const [path, readings] of byPath) put(path, readings)
  }
  return out
}

describe('smap run with the CAISO and Dent drivers', () => {
  let dir: string
  let sink: Sink
  let fx: FixtureServer
  let meter: FakeMeter
  let running: Running | undefined

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-drivers-'))
    sink = await startSink()
    fx = await startFixtureServer()
    meter = await startFakeMeter('rtu')
    // the site has the driver packages installed (the workspace's, built)
    await mkdir(join(dir, 'node_modules', '@smap'), { recursive: true })
    for (const name of ['driver-caiso', 'driver-dent', 'sdk']) await symlink(packageDir(name), join(dir, 'node_modules', '@smap', name), 'dir')
  })

  afterEach(async () => {
    running?.child.kill('SIGKILL')
    if (running) await running.exited
    running = undefined
    await meter.close()
    await fx.close()
    await sink.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('delivers every expected reading of both drivers to the sink with the right uuids, units and metadata', async () => {
    // the recorded OASIS day (2024-01-15, Pacific) shown as today, as the driver polls with the real clock
    fx.oasisShiftMs = pacificMidnight(pacificDate(Date.now())) - Date.UTC(2024, 0, 15, 8)
    // a PowerScout 18 (elements A and B at units 1 and 2, data scalar 1 in the second register at 4300)
    // and a PowerScout 3 (unit 9, data scalar 1 at 4601) behind one serial gateway
    meter.load(1, 4000, elementRegisters(0))
    meter.load(1, 4300, [9, 1, 9])
    meter.load(2, 4000, elementRegisters(1))
    meter.load(2, 4300, [9, 1, 9])
    meter.load(9, 4000, elementRegisters(0))
    meter.set(9, 4601, 1)
    const dent = `Address = 127.0.0.1\nPort = ${meter.port}\nTransport = rtu-over-tcp\nRate = 1\nLimit = 0\nTimeout = 1\n`
    await writeFile(
      join(dir, 'conf.ini'),
      `[server]\nRetryBackoff = 10\nMaxRetryBackoff = 200\n\n` +
        `[/]\nuuid = ${ROOT}\nMetadata/SourceName = drivers end to end\n\n` +
        `[/caiso]\ntype = smap.drivers.caiso.CaIsoDriver\nOutlookUrl = ${fx.outlookUrl}\nOasisUrl = ${fx.oasisUrl}\nNodes = ${NODE}\n\n` +
        `[/meter]\ntype = smap.drivers.dent.Dent18\n${dent}elements = A,B\n\n` +
        `[/panel]\ntype = smap.drivers.dent.Dent3\n${dent}ModbusBase = 9\n\n` +
        `[report 0]\nReportDeliveryLocation = ${sink.url}\nReportResource = /+\n`,
    )
    running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0'], { cwd: dir })
    await running.waitFor(/serving conf\.ini at http:\/\/127\.0\.0\.1:\d+\/data/)

    // Dent: every stream of every element, each with the simulator's value, unit and uuid
    const dentStreams: Array<{ path: string; key: string; ns: string; value: number }> = []
    for (const [at, element, tweak] of [['/meter', 'A', 0], ['/meter', 'B', 1], ['/panel', 'A', 0]] as const) {
      for (const [name, value] of Object.entries(EXPECTED_A_SCALAR_1)) {
        const key = `/elt-${element}/${name}`
        // elementRegisters(tweak) adds tweak to the system kW register
        dentStreams.push({ path: `${at}${key}`, key, ns: at, value: name === 'ABC/true_power' ? value + tweak / 1000 : value })
      }
    }
    await until('two polls of every Dent stream', () => dentStreams.every((s) => readingsOf(sink, s.path).length >= 2), 20_000)
    for (const s of dentStreams) {
      expect(readingsOf(sink, s.path).map(([, v]) => v), s.path).toEqual(readingsOf(sink, s.path).map(() => s.value))
      const full = firstFull(sink, s.path)
      expect(full?.uuid, s.path).toBe(uuid5(uuid5(ROOT, s.ns), s.key))
      expect(full?.Properties, s.path).toEqual({ UnitofMeasure: DENT_UNITS[s.key.split('/').at(-1) as string], ReadingType: 'double', Timezone: 'America/Los_Angeles' })
    }
    expect(dentStreams).toHaveLength(3 * 43)
    expect(firstFull(sink, '/meter')?.Metadata).toMatchObject({ Extra: { Driver: 'smap.drivers.dent.Dent18' }, Instrument: { Manufacturer: 'Dent Industries', Model: 'PowerScout 18' } })
    expect(firstFull(sink, '/panel')?.Metadata).toMatchObject({ Extra: { Driver: 'smap.drivers.dent.Dent3' }, Instrument: { Model: 'PowerScout 3' } })

    // CAISO: every non-empty row of the day's Outlook files and every price asked for, once each
    await until('the request for real-time prices, the last of a poll', () => fx.requests.some((r) => r.query.get('queryname') === 'PRC_INTVL_LMP'), 20_000)
    const expected = expectedCaiso(fx)
    const total = [...expected.values()].reduce((n, rs) => n + rs.length, 0)
    const received = (): number => [...expected.keys()].reduce((n, p) => n + readingsOf(sink, `/caiso${p}`).length, 0)
    await until(`${total} CAISO readings`, () => received() >= total, 10_000)
    await sleep(300) // nothing more should come
    expect(expected.get('/demand/current')?.length).toBeGreaterThan(100)
    expect(expected.get(`/lmp/${NODE}/dam/lmp`)?.length).toBeGreaterThanOrEqual(23) // at least today's hours
    // every Outlook column and day-ahead component; real-time ones unless it is just past midnight
    expect([...expected.keys()].filter((p) => !p.includes('/rtm/'))).toHaveLength(4 + 5 + 13 + 5)
    expect([0, 5]).toContain([...expected.keys()].filter((p) => p.includes('/rtm/')).length)
    for (const [path, readings] of expected) {
      const full = `/caiso${path}`
      expect(readingsOf(sink, full), full).toEqual(readings)
      expect(firstFull(sink, full)?.uuid, full).toBe(uuid5(uuid5(ROOT, '/caiso'), path))
      expect(firstFull(sink, full)?.Properties, full).toEqual({ UnitofMeasure: path.startsWith('/lmp/') ? '$/MWh' : 'MW', ReadingType: 'double', Timezone: 'America/Los_Angeles' })
      expect(firstFull(sink, full)?.Metadata, full).toMatchObject({ Extra: { Type: caisoType(path), Subtype: path.split('/').at(-1) } })
    }
    expect(firstFull(sink, '/caiso')?.Metadata).toEqual({ Location: { Country: 'USA', Area: 'California' }, Extra: { ISOName: 'CAISO' } })
    expect(firstFull(sink, '/')?.Metadata).toEqual({ SourceName: 'drivers end to end' })

    // and the CAISO driver's memory is on disk, so the next process adds none of these again
    const stateFile = join(dir, '.smap', 'drivers', `${uuid5(ROOT, '/caiso')}.json`)
    await until(stateFile, () => existsSync(stateFile), 5_000)
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { last: Record<string, number> }
    expect(saved.last['/demand/current']).toBe(expected.get('/demand/current')?.at(-1)?.[0])
    expect(saved.last[`/lmp/${NODE}/rtm/lmp`]).toBe(expected.get(`/lmp/${NODE}/rtm/lmp`)?.at(-1)?.[0])
  }, 45_000)
})
