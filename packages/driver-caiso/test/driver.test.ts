import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { uuid5, type Reading } from '@smap/sdk'
import { createHarness } from '@smap/testing'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createCaisoDriver } from '../src/_driver.js'
import driver from '../src/index.js'
import { startFixtureServer, type FixtureServer } from './_fixture-server.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const SP15 = 'TH_SP15_GEN-APND'
const NP15 = 'TH_NP15_GEN-APND'
const MIN = 60_000
const DAY = 86_400_000
/** Unix ms of a Pacific Standard Time wall clock, January 2024 unless `month` (1-based) says otherwise. */
const pst = (day: number, h: number, m: number, month = 1, year = 2024): number => Date.UTC(year, month - 1, day, h + 8, m)
const AT_1032 = pst(15, 10, 32)

let server: FixtureServer
beforeAll(async () => {
  server = await startFixtureServer()
})
afterAll(async () => {
  await server.close()
})
beforeEach(() => {
  server.current = 'current/20240115T1032'
  server.asOf = Infinity
  server.oasisQueue.length = 0
  server.failing.clear()
})

const options = (more: Record<string, string> = {}): Record<string, string> => ({ OutlookUrl: server.outlookUrl, OasisUrl: server.oasisUrl, ...more })
const times = (readings: Reading[]): number[] => readings.map(([t]) => t)
const increasing = (readings: Reading[]): boolean => readings.every(([t], i) => i === 0 || t > (readings[i - 1] as Reading)[0])
const since = (from: number, path: string) => server.requests.slice(from).filter((r) => r.path === path)

/** The driver with waiting replaced by a record of the waits (the harness clock only moves when a test says so). */
function fakeWaitDriver() {
  const waits: number[] = []
  const d = createCaisoDriver({
    wait: async (ms, signal) => {
      signal.throwIfAborted()
      waits.push(ms)
    },
  })
  return { driver: d, waits }
}

describe('setup', () => {
  it('makes one MW stream per known column of each file, keyed by its path', async () => {
    const h = await createHarness(driver, options(), { root: ROOT, path: '/caiso' })
    expect(h.timeseries().map((ts) => ts.path)).toEqual([
      '/demand/day_ahead_forecast',
      '/demand/hour_ahead_forecast',
      '/demand/current',
      '/demand/demand_response',
      '/netdemand/current',
      '/netdemand/forecast',
      '/netdemand/demand',
      '/netdemand/demand_hour_ahead_forecast',
      '/netdemand/demand_response',
      '/fuel/solar',
      '/fuel/wind',
      '/fuel/geothermal',
      '/fuel/biomass',
      '/fuel/biogas',
      '/fuel/small_hydro',
      '/fuel/coal',
      '/fuel/nuclear',
      '/fuel/natural_gas',
      '/fuel/large_hydro',
      '/fuel/batteries',
      '/fuel/imports',
      '/fuel/other',
    ])
    const current = h.get('/demand/current')
    expect(current).toMatchObject({
      fullPath: '/caiso/demand/current',
      key: '/demand/current',
      unit: 'MW',
      readingType: 'double',
      timezone: 'America/Los_Angeles',
      description: "Current demand (CAISO Today's Outlook, demand.csv)",
    })
    expect(current?.uuid).toBe(uuid5(uuid5(ROOT, '/caiso'), '/demand/current'))
  })

  it('describes CAISO as the original driver did, with a type and subtype per stream', async () => {
    const h = await createHarness(driver, options({ Nodes: SP15, Markets: 'RTM' }))
    expect(h.metadata('/')).toEqual({ Location: { Country: 'USA', Area: 'California' }, Extra: { ISOName: 'CAISO' } })
    expect(h.metadata('/fuel/solar')).toEqual({ Extra: { Type: 'fuel', Subtype: 'solar', Source: 'fuelsource.csv', Column: 'Solar' } })
    expect(h.metadata('/demand/day_ahead_forecast')).toEqual({ Extra: { Type: 'demand', Subtype: 'day_ahead_forecast', Source: 'demand.csv', Column: 'Day ahead forecast' } })
    // netdemand.csv's own copy of the hour-ahead demand forecast, not a net-demand forecast
    expect(h.metadata('/netdemand/demand_hour_ahead_forecast')).toEqual({ Extra: { Type: 'netdemand', Subtype: 'demand_hour_ahead_forecast', Source: 'netdemand.csv', Column: 'Hour ahead forecast' } })
    expect(h.metadata(`/lmp/${SP15}/rtm/mcc`)).toEqual({ Extra: { Type: 'price', Subtype: 'mcc', Node: SP15, Market: 'RTM', Source: 'PRC_INTVL_LMP' } })
  })

  it('makes a $/MWh stream per node, market and LMP component', async () => {
    const h = await createHarness(driver, options({ Files: '', Nodes: `${SP15}, ${NP15.toLowerCase()}` }))
    const prices = h.timeseries()
    expect(prices).toHaveLength(2 * 2 * 5)
    expect(prices.map((ts) => ts.path).slice(0, 6)).toEqual([
      `/lmp/${SP15}/dam/lmp`,
      `/lmp/${SP15}/dam/mce`,
      `/lmp/${SP15}/dam/mcc`,
      `/lmp/${SP15}/dam/mcl`,
      `/lmp/${SP15}/dam/mghg`,
      `/lmp/${SP15}/rtm/lmp`,
    ])
    expect(prices.every((ts) => ts.unit === '$/MWh' && ts.readingType === 'double')).toBe(true)
    expect(h.get(`/lmp/${NP15}/rtm/lmp`)?.description).toBe(`locational marginal price at ${NP15}, real-time market, 5-minute (OASIS PRC_INTVL_LMP)`)
  })

  it('refuses bad options with the message smap prints for a config', async () => {
    const bad = (raw: Record<string, string>) => createHarness(driver, raw)
    await expect(bad({ Files: 'demand,supply' })).rejects.toThrow(
      'invalid options for driver caiso: Files: unknown file "supply": expected demand, netdemand, fuelsource, got "demand,supply"',
    )
    await expect(bad({ Rate: 'fast' })).rejects.toThrow('Rate: Invalid input: expected number, received NaN, got "fast"')
    await expect(bad({ Rate: '0' })).rejects.toThrow('Rate: Too small: expected number to be >0, got "0"')
    await expect(bad({ Nodes: 'TH SP15' })).rejects.toThrow('Nodes: a node name uses only letters, digits and _ . -, e.g. TH_SP15_GEN-APND, got "TH SP15"')
    await expect(bad({ Markets: 'DAM,HASP' })).rejects.toThrow('Markets: unknown market "HASP": expected DAM (day-ahead hourly) or RTM (real-time 5-minute), got "DAM,HASP"')
    await expect(bad({ OasisUrl: 'oasis.caiso.com' })).rejects.toThrow('OasisUrl: expected an http(s) URL, got "oasis.caiso.com"')
    await expect(bad({ Node: SP15 })).rejects.toThrow('Node: unknown option for driver caiso; it accepts Files, Rate, Nodes, Markets, OutlookUrl, OasisUrl')
  })

  it('defaults to the three files every 300 s from caiso.com, and no prices', async () => {
    const h = await createHarness(driver)
    expect(h.options).toEqual({
      Files: ['demand', 'netdemand', 'fuelsource'],
      Rate: 300,
      Nodes: [],
      Markets: ['DAM', 'RTM'],
      OutlookUrl: 'https://www.caiso.com/outlook',
      OasisUrl: 'https://oasis.caiso.com/oasisapi',
    })
  })
})

describe("polling Today's Outlook", () => {
  it('publishes every non-empty row of today at the first poll, then only new readings', async () => {
    const h = await createHarness(driver, options(), { now: AT_1032 })
    await h.start()
    expect(h.errors).toEqual([])
    const current = h.readings('/demand/current')
    expect(current).toHaveLength(126) // 00:00 to 10:25; later rows are still empty
    expect(current[0]).toEqual([pst(15, 0, 0), 17383])
    expect(current.at(-1)?.[0]).toBe(pst(15, 10, 25))
    expect(h.readings('/demand/hour_ahead_forecast').at(-1)?.[0]).toBe(pst(15, 11, 30))
    expect(h.readings('/demand/day_ahead_forecast')).toHaveLength(289) // the whole day and the next midnight
    expect(h.readings('/netdemand/current')).toHaveLength(126)
    expect(h.readings('/fuel/batteries')).toHaveLength(126)
    expect(h.readings('/fuel/solar').slice(0, 2)).toEqual([
      [pst(15, 0, 0), -25],
      [pst(15, 0, 5), -20],
    ])

    server.current = 'current/20240115T1047'
    await h.advance(900) // polls at 10:37, 10:42 and 10:47
    expect(times(h.readings('/demand/current')).slice(-4)).toEqual([pst(15, 10, 25), pst(15, 10, 30), pst(15, 10, 35), pst(15, 10, 40)])
    for (const ts of h.timeseries()) expect(increasing(ts.readings), ts.path).toBe(true)
    expect(h.readings('/demand/day_ahead_forecast')).toHaveLength(289)
    expect(h.readings('/demand/hour_ahead_forecast')).toHaveLength(142)
    expect(h.health()).toEqual({ healthy: true })
  })

  it('asks for a fresh copy each poll, past the CDN cache', async () => {
    const from = server.requests.length
    const h = await createHarness(driver, options({ Files: 'demand' }), { now: AT_1032 })
    await h.start()
    await h.advance(300)
    const asked = since(from, '/outlook/current/demand.csv').map((r) => r.query.get('_'))
    expect(asked).toEqual([String(AT_1032), String(AT_1032 + 300_000)])
  })

  it('adds nothing twice when the driver is stopped and started again', async () => {
    const h = await createHarness(driver, options(), { now: AT_1032 })
    await h.start()
    const count = () => h.timeseries().reduce((n, ts) => n + ts.readings.length, 0)
    const first = count()
    await h.stop()
    await h.start()
    expect(count()).toBe(first)
    server.current = 'current/20240115T1047'
    await h.advance(900)
    await h.stop()
    await h.start()
    expect(h.readings('/demand/current')).toHaveLength(129)
    for (const ts of h.timeseries()) expect(increasing(ts.readings), ts.path).toBe(true)
  })

  it('adds in a new process only what the last one had not added, from its saved state', async () => {
    const a = await createHarness(driver, options(), { now: AT_1032 })
    await a.start()
    expect(a.state()).toMatchObject({
      last: { '/demand/current': pst(15, 10, 25), '/demand/day_ahead_forecast': pst(16, 0, 0), '/fuel/solar': pst(15, 10, 25) },
      outlookDays: { demand: '20240115', netdemand: '20240115', fuelsource: '20240115' },
    })
    const b = await createHarness(driver, options(), { now: AT_1032 + 60_000, state: a.state() })
    await b.start()
    for (const ts of b.timeseries()) expect(ts.readings, ts.path).toEqual([])
    expect(b.get('/demand/current')?.uuid).toBe(a.get('/demand/current')?.uuid)
    server.current = 'current/20240115T1047'
    await b.advance(840)
    expect(times(b.readings('/demand/current'))).toEqual([pst(15, 10, 30), pst(15, 10, 35), pst(15, 10, 40)])
    expect(b.readings('/demand/day_ahead_forecast')).toEqual([])
  })

  it('catches up after downtime with the rows published while no process ran, each once', async () => {
    const a = await createHarness(driver, options(), { now: AT_1032 })
    await a.start()
    await a.stop()
    server.current = 'current/20240115T1047'
    const b = await createHarness(driver, options(), { now: pst(15, 10, 47), state: a.state() })
    await b.start()
    expect(times(b.readings('/demand/current'))).toEqual([pst(15, 10, 30), pst(15, 10, 35), pst(15, 10, 40)])
    // the two processes together published a reading for every time one running all along would have
    // (a forecast revised in between keeps its first value, as it would in one process)
    const whole = await createHarness(driver, options(), { now: pst(15, 10, 47) })
    await whole.start()
    for (const ts of whole.timeseries()) expect(times([...a.readings(ts.path), ...b.readings(ts.path)]), ts.path).toEqual(times(ts.readings))
  })

  it('catches up the rest of yesterday from its history file when the day turned while no process ran', async () => {
    server.current = 'current/20240115T2358'
    const a = await createHarness(driver, options({ Files: 'demand' }), { now: pst(15, 23, 58) })
    await a.start()
    await a.stop()
    server.current = 'current/20240116T0008'
    const from = server.requests.length
    const b = await createHarness(driver, options({ Files: 'demand' }), { now: pst(16, 0, 8), state: a.state() })
    await b.start()
    expect(since(from, '/outlook/history/20240115/demand.csv')).toHaveLength(1)
    expect(times(b.readings('/demand/current'))).toEqual([pst(15, 23, 55), pst(16, 0, 0), pst(16, 0, 5)])
    const day = [...a.readings('/demand/current'), ...b.readings('/demand/current')]
    expect(day).toHaveLength(288 + 2)
    expect(day.every(([t], i) => i === 0 || t - (day[i - 1] as Reading)[0] === 5 * MIN)).toBe(true)
    for (const ts of b.timeseries()) expect(increasing([...a.readings(ts.path), ...ts.readings]), ts.path).toBe(true)
    expect(b.state()).toMatchObject({ outlookDays: { demand: '20240116' }, last: { '/demand/current': pst(16, 0, 5) } })
  })

  it('catches up at most a week of history files after a long downtime, and says so', async () => {
    server.current = 'current/20240116T0008'
    const from = server.requests.length
    const state = { last: { '/demand/current': pst(5, 12, 0) }, outlookDays: { demand: '20240105' } }
    const h = await createHarness(driver, options({ Files: 'demand' }), { now: pst(17, 0, 8), state })
    await h.start()
    const asked = server.requests.slice(from).map((r) => r.path).filter((p) => p.startsWith('/outlook/history/'))
    expect(asked).toEqual([10, 11, 12, 13, 14, 15, 16].map((d) => `/outlook/history/202401${d}/demand.csv`))
    expect(h.logs[0]).toEqual({ level: 'warn', message: 'demand.csv was last read for 20240105; catching up from 20240110 only (import older days with smap load)' })
    const current = h.readings('/demand/current')
    expect(current[0]?.[0]).toBe(pst(15, 0, 0))
    expect(current.filter(([t]) => t < pst(17, 0, 0))).toHaveLength(2 * 288)
    expect(h.state()).toMatchObject({ outlookDays: { demand: '20240117' } })
  })

  it('writes its state once per poll, and only when it changed', async () => {
    const h = await createHarness(driver, options({ Files: 'demand' }), { now: AT_1032 })
    const keys: string[] = []
    const set = h.ctx.state.set.bind(h.ctx.state)
    h.ctx.state.set = (key, value) => {
      keys.push(key)
      set(key, value)
    }
    await h.start()
    expect(keys).toEqual(['last', 'outlookDays'])
    await h.advance(300) // the same file: nothing new
    expect(keys).toHaveLength(2)
    server.current = 'current/20240115T1047'
    await h.advance(300)
    expect(keys).toEqual(['last', 'outlookDays', 'last'])
  })

  it("carries the last rows of a day over midnight from that day's history file", async () => {
    server.current = 'current/20240115T2358'
    const h = await createHarness(driver, options({ Files: 'demand' }), { now: pst(15, 23, 58) })
    await h.start()
    expect(h.readings('/demand/current').at(-1)?.[0]).toBe(pst(15, 23, 50))
    // 00:03: CAISO still serves yesterday's file; it must not be dated today
    await h.advance(300)
    expect(h.readings('/demand/current').at(-1)?.[0]).toBe(pst(15, 23, 50))
    expect(Math.max(...times(h.readings('/demand/current')))).toBeLessThan(pst(16, 0, 3))
    // 00:08: today's file; yesterday's 23:55 and the midnight row come from its history
    const from = server.requests.length
    server.current = 'current/20240116T0008'
    await h.advance(300)
    expect(since(from, '/outlook/history/20240115/demand.csv')).toHaveLength(1)
    expect(times(h.readings('/demand/current')).slice(-4)).toEqual([pst(15, 23, 50), pst(15, 23, 55), pst(16, 0, 0), pst(16, 0, 5)])
    for (const ts of h.timeseries()) expect(increasing(ts.readings), ts.path).toBe(true)
    expect(h.readings('/demand/day_ahead_forecast').at(-1)?.[0]).toBe(pst(17, 0, 0))
    await h.advance(300)
    expect(since(from, '/outlook/history/20240115/demand.csv')).toHaveLength(1)
  })

  it('reads drifted headers by name and says once which columns it ignores', async () => {
    server.current = 'drifted/20240115T1032'
    const h = await createHarness(driver, options({ Files: 'fuelsource,netdemand' }), { now: AT_1032 })
    await h.start()
    await h.advance(300)
    expect(h.readings('/fuel/solar')).toHaveLength(126)
    expect(h.readings('/fuel/small_hydro')).toHaveLength(126)
    expect(h.readings('/fuel/coal')).toEqual([])
    // netdemand.csv in its older layout: its columns all feed streams; the newer ones stay empty
    expect(h.readings('/netdemand/current')).toHaveLength(126)
    expect(h.readings('/netdemand/demand')).toHaveLength(126)
    expect(h.readings('/netdemand/demand_hour_ahead_forecast')).toHaveLength(139) // through 11:30
    expect(h.readings('/netdemand/forecast')).toEqual([])
    expect(h.logs).toEqual([{ level: 'info', message: 'fuelsource.csv has columns this driver does not know, ignored: "Hybrids"' }])
  })

  it('keeps polling the other files when one fails, and says so in its health', async () => {
    server.failing.set('/outlook/current/fuelsource.csv', 500)
    const h = await createHarness(driver, options(), { now: AT_1032 })
    await h.start()
    await h.advance(300)
    expect(h.errors).toEqual([])
    expect(h.readings('/demand/current')).toHaveLength(126)
    expect(h.readings('/fuel/solar')).toEqual([])
    const problem = `GET ${server.outlookUrl}/current/fuelsource.csv answered HTTP 500`
    expect(h.health()).toEqual({ healthy: false, message: problem })
    expect(h.logs).toEqual([{ level: 'warn', message: problem }])

    server.failing.clear()
    await h.advance(300)
    expect(h.readings('/fuel/solar')).toHaveLength(126)
    expect(h.health()).toEqual({ healthy: true })
    expect(h.logs.at(-1)).toEqual({ level: 'info', message: 'fuelsource.csv is answering again' })
  })

  it('never throws from a poll when CAISO cannot be reached', async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise((resolve) => closed.close(resolve))
    const h = await createHarness(driver, { Files: 'demand', OutlookUrl: `http://127.0.0.1:${port}/outlook` }, { now: AT_1032 })
    await h.start()
    expect(h.errors).toEqual([])
    expect(h.health()).toEqual({ healthy: false, message: `GET http://127.0.0.1:${port}/outlook/current/demand.csv failed: ECONNREFUSED (connect ECONNREFUSED 127.0.0.1:${port})` })
  })
})

describe('polling OASIS prices', () => {
  it("asks for today's and tomorrow's day-ahead prices once and the real-time ones every poll, 5 s apart", async () => {
    const { driver: d, waits } = fakeWaitDriver()
    const from = server.requests.length
    server.asOf = AT_1032
    const h = await createHarness(d, options({ Files: '', Nodes: `${SP15},${NP15}` }), { now: AT_1032 })
    await h.start()
    expect(h.errors).toEqual([])
    expect(h.readings(`/lmp/${SP15}/dam/lmp`)).toHaveLength(48) // 2024-01-15 and 2024-01-16, hourly
    expect(h.readings(`/lmp/${SP15}/dam/lmp`)[47]?.[0]).toBe(pst(16, 23, 0))
    expect(h.readings(`/lmp/${NP15}/rtm/lmp`)).toHaveLength(126) // 00:00 to 10:25, the intervals ended by 10:32
    expect(h.readings(`/lmp/${NP15}/rtm/mghg`)).toHaveLength(126)
    expect(h.readings(`/lmp/${NP15}/dam/mghg`)).toHaveLength(48)
    expect(waits).toEqual([5_000])

    server.asOf = AT_1032 + 5 * MIN
    await h.advance(300)
    expect(times(h.readings(`/lmp/${NP15}/rtm/lmp`)).slice(-2)).toEqual([pst(15, 10, 25), pst(15, 10, 30)])
    for (const ts of h.timeseries()) expect(increasing(ts.readings), ts.path).toBe(true)
    const asked = since(from, '/oasisapi/SingleZip').map((r) => Object.fromEntries(r.query))
    expect(asked.map((q) => [q.queryname, q.startdatetime, q.enddatetime])).toEqual([
      ['PRC_LMP', '20240115T08:00-0000', '20240117T08:00-0000'],
      ['PRC_INTVL_LMP', '20240115T08:00-0000', '20240115T18:40-0000'],
      ['PRC_INTVL_LMP', '20240115T17:25-0000', '20240115T18:45-0000'], // an hour before the latest price, for late rows
    ])
    expect(asked.every((q) => q.node === `${SP15},${NP15}` && q.resultformat === '6')).toBe(true)
    expect(asked.map((q) => q.version)).toEqual(['12', '3', '3'])
    expect(h.health()).toEqual({ healthy: true })
  })

  it('spaces its OASIS requests 5 s apart in real time', async () => {
    const from = server.requests.length
    server.asOf = AT_1032
    const h = await createHarness(driver, options({ Files: '', Nodes: SP15 }), { now: AT_1032 })
    await h.start()
    const [dam, rtm] = since(from, '/oasisapi/SingleZip')
    expect(dam?.query.get('queryname')).toBe('PRC_LMP')
    expect(rtm?.query.get('queryname')).toBe('PRC_INTVL_LMP')
    // the gap is kept between sending requests; an arrival may lag by a busy machine's scheduling
    expect((rtm?.at ?? 0) - (dam?.at ?? 0)).toBeGreaterThanOrEqual(4_500)
    expect(h.readings(`/lmp/${SP15}/rtm/lmp`)).toHaveLength(126)
  })

  it('leaves a throttling OASIS alone until the next poll', async () => {
    const { driver: d } = fakeWaitDriver()
    server.asOf = AT_1032
    server.oasisQueue.push('throttle-429')
    const from = server.requests.length
    const h = await createHarness(d, options({ Files: '', Nodes: SP15 }), { now: AT_1032 })
    await h.start()
    expect(since(from, '/oasisapi/SingleZip')).toHaveLength(1)
    expect(h.errors).toEqual([])
    expect(h.health()?.message).toMatch(/^OASIS is throttling requests \(HTTP 429 with an HTML page\) for http:\/\/127\.0\.0\.1:\d+\/oasisapi\/SingleZip\?queryname=PRC_LMP.*; gave up after 1 try, asking again in 30 s at the earliest$/)
    await h.advance(300)
    expect(since(from, '/oasisapi/SingleZip')).toHaveLength(3)
    expect(h.readings(`/lmp/${SP15}/dam/lmp`)).toHaveLength(48)
    expect(h.readings(`/lmp/${SP15}/rtm/lmp`)).toHaveLength(126)
    expect(h.health()).toEqual({ healthy: true })
  })

  it('reports an OASIS error code and goes on with the other market', async () => {
    const { driver: d } = fakeWaitDriver()
    server.asOf = AT_1032
    server.oasisQueue.push('invalid-request')
    const h = await createHarness(d, options({ Files: '', Nodes: SP15 }), { now: AT_1032 })
    await h.start()
    expect(h.health()?.message).toMatch(/^OASIS error 1002 for .*queryname=PRC_LMP.*: Invalid Request: node NOT_A_NODE does not exist$/)
    expect(h.readings(`/lmp/${SP15}/rtm/lmp`)).toHaveLength(126)
    expect(h.errors).toEqual([])
  })
  it('asks a new process for the prices since the latest one the last process saw, adding none twice', async () => {
    const { driver: d } = fakeWaitDriver()
    server.asOf = AT_1032
    const a = await createHarness(d, options({ Files: '', Nodes: SP15 }), { now: AT_1032 })
    await a.start()
    expect(a.state()).toMatchObject({ marketLatest: { DAM: pst(16, 23, 0), RTM: pst(15, 10, 25) } })
    server.asOf = pst(15, 10, 47)
    const from = server.requests.length
    const b = await createHarness(fakeWaitDriver().driver, options({ Files: '', Nodes: SP15 }), { now: pst(15, 10, 47), state: a.state() })
    await b.start()
    const asked = since(from, '/oasisapi/SingleZip').map((r) => [r.query.get('queryname'), r.query.get('startdatetime')])
    expect(asked).toEqual([
      ['PRC_LMP', '20240115T08:00-0000'],
      ['PRC_INTVL_LMP', '20240115T17:25-0000'],
    ])
    expect(b.readings(`/lmp/${SP15}/dam/lmp`)).toEqual([])
    expect(times(b.readings(`/lmp/${SP15}/rtm/lmp`))).toEqual([pst(15, 10, 30), pst(15, 10, 35), pst(15, 10, 40)])
  })
})

describe('load', () => {
  it('imports each Pacific day of the range from its history file, once per time', async () => {
    const from = server.requests.length
    const h = await createHarness(driver, options({ Files: 'demand' }), { now: pst(1, 12, 0, 2) })
    await h.load({ start: pst(14, 12, 0), end: pst(16, 3, 0) })
    expect(since(from, '/outlook/history/20240114/demand.csv')).toHaveLength(1)
    expect(since(from, '/outlook/history/20240115/demand.csv')).toHaveLength(1)
    expect(since(from, '/outlook/history/20240116/demand.csv')).toHaveLength(1)
    const current = h.readings('/demand/current')
    expect(current).toHaveLength(288 + 36) // all of the 15th, the 16th until 02:55
    expect(current[0]?.[0]).toBe(pst(15, 0, 0))
    expect(current.at(-1)?.[0]).toBe(pst(16, 2, 55))
    expect(current.every(([t], i) => i === 0 || t - (current[i - 1] as Reading)[0] === 5 * MIN)).toBe(true)
    expect(h.logs).toEqual([{ level: 'warn', message: `no demand.csv for 20240114: ${server.outlookUrl}/history/20240114/demand.csv answered HTTP 404; that day's demand is skipped` }])
  })

  it('imports in UTC-day chunks (smap load --timezone UTC), asking for each Pacific day once', async () => {
    const from = server.requests.length
    const h = await createHarness(driver, options({ Files: 'demand' }), { now: pst(1, 12, 0, 2) })
    for (const day of [15, 16]) await h.load({ start: Date.UTC(2024, 0, day), end: Date.UTC(2024, 0, day + 1) })
    // 2024-01-15 UTC is 14th 16:00 to 15th 16:00 Pacific; 2024-01-16 UTC reaches 16th 16:00 Pacific
    expect(since(from, '/outlook/history/20240115/demand.csv')).toHaveLength(1)
    expect(since(from, '/outlook/history/20240116/demand.csv')).toHaveLength(1)
    const current = h.readings('/demand/current')
    expect(current[0]?.[0]).toBe(pst(15, 0, 0))
    expect(current.at(-1)?.[0]).toBe(pst(16, 15, 55))
    expect(current.every(([t], i) => i === 0 || t - (current[i - 1] as Reading)[0] === 5 * MIN)).toBe(true)
  })

  it('imports the daylight-saving days without missing, wrong or repeated times', async () => {
    const h = await createHarness(driver, options({ Files: 'demand' }), { now: pst(1, 12, 0, 12) })
    await h.load({ start: pst(10, 0, 0, 3), end: pst(11, 0, 0, 3) - 3_600_000 })
    const spring = [...h.readings('/demand/current')]
    expect(spring).toHaveLength(23 * 12)
    expect(spring.every(([t], i) => i === 0 || t - (spring[i - 1] as Reading)[0] === 5 * MIN)).toBe(true)
    await h.load({ start: Date.UTC(2024, 10, 3, 7), end: Date.UTC(2024, 10, 4, 8) })
    // CAISO gives the repeated hour once, in PDT: 288 readings, 02:00 PST 65 minutes after 01:55 PDT
    const fall = h.readings('/demand/current').slice(spring.length)
    expect(fall).toHaveLength(24 * 12)
    const steps = fall.slice(1).map(([t], i) => t - (fall[i] as Reading)[0])
    expect(steps.filter((d) => d !== 5 * MIN)).toEqual([65 * MIN])
    expect(fall[24]?.[0]).toBe(Date.UTC(2024, 10, 3, 10))
  })

  it('imports prices in windows of at most 30 days, one request per 5 s, retrying a throttled one', async () => {
    const { driver: d, waits } = fakeWaitDriver()
    const from = server.requests.length
    server.oasisQueue.push('throttle-200')
    const h = await createHarness(d, options({ Files: '', Nodes: SP15 }), { now: pst(1, 12, 0, 3) })
    const start = pst(20, 0, 0, 12, 2023)
    await h.load({ start, end: start + 45 * DAY })
    const asked = since(from, '/oasisapi/SingleZip').map((r) => [r.query.get('queryname'), r.query.get('startdatetime'), r.query.get('enddatetime')])
    expect(asked).toEqual([
      ['PRC_LMP', '20231220T08:00-0000', '20240119T08:00-0000'], // throttled,
      ['PRC_LMP', '20231220T08:00-0000', '20240119T08:00-0000'], // asked again 30 s later
      ['PRC_LMP', '20240119T08:00-0000', '20240203T08:00-0000'], // no data (error 1000): said, nothing to add
      ['PRC_INTVL_LMP', '20231220T08:00-0000', '20240119T08:00-0000'],
      ['PRC_INTVL_LMP', '20240119T08:00-0000', '20240203T08:00-0000'],
    ])
    expect(waits).toEqual([30_000, 5_000, 5_000, 5_000])
    expect(h.readings(`/lmp/${SP15}/dam/lmp`)).toHaveLength(48)
    expect(h.readings(`/lmp/${SP15}/rtm/lmp`)).toHaveLength(132)
    expect(h.readings(`/lmp/${SP15}/rtm/lmp`)[0]?.[0]).toBe(pst(15, 0, 0))
    expect(h.logs.map((l) => l.message)).toEqual([
      'OASIS is throttling requests (HTTP 200 with an HTML page); asking again in 30 s',
      expect.stringMatching(/^OASIS has no PRC_LMP prices \(DAM\) for TH_SP15_GEN-APND from 2024-01-19T08:00:00\.000Z to 2024-02-03T08:00:00\.000Z \(.*: error 1000, "No data returned for the specified selection"\); OASIS no longer serves prices that old/),
      expect.stringMatching(/^OASIS has no PRC_INTVL_LMP prices \(RTM\) for TH_SP15_GEN-APND from 2024-01-19T08:00:00\.000Z/),
    ])
  })

  it('stops importing when the driver is stopped', async () => {
    const d = createCaisoDriver({
      wait: (_ms, signal) => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true })),
    })
    const h = await createHarness(d, options({ Files: '', Nodes: SP15 }), { now: pst(1, 12, 0, 3) })
    const from = server.requests.length
    const loading = h.load({ start: pst(1, 0, 0), end: pst(1, 0, 0, 3) })
    await new Promise((resolve) => setTimeout(resolve, 200))
    await h.stop()
    await expect(loading).rejects.toThrow(/abort/i)
    expect(since(from, '/oasisapi/SingleZip')).toHaveLength(1)
  })

  it('refuses a range whose start is not before its end', async () => {
    const h = await createHarness(driver, options())
    await expect(h.load({ start: AT_1032, end: AT_1032 })).rejects.toThrow(
      `cannot import CAISO history from ${AT_1032} to ${AT_1032}: expected Unix ms with start before end`,
    )
  })
})

describe('a history file CAISO will not give', () => {
  const DENIED = '/outlook/history/20240115/demand.csv'
  /** A driver that last polled demand.csv at 23:58 on the 15th, started again at 00:08 on the 16th. */
  async function afterMidnight() {
    server.current = 'current/20240115T2358'
    const a = await createHarness(driver, options({ Files: 'demand' }), { now: pst(15, 23, 58) })
    await a.start()
    await a.stop()
    server.current = 'current/20240116T0008'
    return createHarness(driver, options({ Files: 'demand' }), { now: pst(16, 0, 8), state: a.state() })
  }

  for (const [status, answered] of [
    [403, 'answered HTTP 403'],
    [200, 'answered an HTML page instead of a CSV file'],
  ] as const) {
    it(`is skipped like a missing one when it answers ${status === 403 ? '403' : '200 with an HTML page'}: said once, live data goes on and the saved day moves on`, async () => {
      server.failing.set(DENIED, status)
      const h = await afterMidnight()
      const from = server.requests.length
      await h.start()
      expect(h.errors).toEqual([])
      // today's rows are published although yesterday's last rows could not be had
      expect(times(h.readings('/demand/current'))).toEqual([pst(16, 0, 0), pst(16, 0, 5)])
      expect(h.state()).toMatchObject({ outlookDays: { demand: '20240116' }, last: { '/demand/current': pst(16, 0, 5) } })
      const warning = `${server.outlookUrl}/history/20240115/demand.csv ${answered}: readings of 20240115 after the last poll of that day are missing (import them later with smap load)`
      expect(h.logs).toEqual([{ level: 'warn', message: warning }])
      expect(h.health()).toEqual({ healthy: true })
      // the next polls neither ask for it again nor say it again
      await h.advance(600)
      expect(since(from, DENIED)).toHaveLength(1)
      expect(h.logs).toHaveLength(1)
    })
  }

  it('is asked for again at the next poll when it fails for a while (5xx), holding back that file only', async () => {
    server.failing.set(DENIED, 503)
    const h = await afterMidnight()
    const from = server.requests.length
    await h.start()
    expect(h.readings('/demand/current')).toEqual([])
    expect(h.health()).toEqual({ healthy: false, message: `GET ${server.outlookUrl}/history/20240115/demand.csv answered HTTP 503` })
    server.failing.clear()
    await h.advance(300)
    expect(since(from, DENIED)).toHaveLength(2)
    expect(times(h.readings('/demand/current'))).toEqual([pst(15, 23, 55), pst(16, 0, 0), pst(16, 0, 5)])
  })

  it('asks for history files past the CDN cache, as for the current ones', async () => {
    const h = await afterMidnight()
    const from = server.requests.length
    await h.start()
    expect(since(from, DENIED).map((r) => r.query.get('_'))).toEqual([String(pst(16, 0, 8))])
    const l = await createHarness(driver, options({ Files: 'demand' }), { now: pst(1, 12, 0, 2) })
    await l.load({ start: pst(15, 0, 0), end: pst(16, 0, 0) })
    expect(since(from, DENIED).at(-1)?.query.get('_')).toBe(String(pst(1, 12, 0, 2)))
  })

  it('is skipped by an import with one warning, across the two UTC chunks its Pacific day spans', async () => {
    server.failing.set(DENIED, 403)
    const from = server.requests.length
    const h = await createHarness(driver, options({ Files: 'demand' }), { now: pst(1, 12, 0, 2) })
    for (const day of [15, 16]) await h.load({ start: Date.UTC(2024, 0, day), end: Date.UTC(2024, 0, day + 1) })
    expect(since(from, DENIED)).toHaveLength(1)
    // (2024-01-15 UTC begins on the 14th in California, which has no fixture)
    expect(h.logs).toEqual([
      { level: 'warn', message: `no demand.csv for 20240114: ${server.outlookUrl}/history/20240114/demand.csv answered HTTP 404; that day's demand is skipped` },
      { level: 'warn', message: `no demand.csv for 20240115: ${server.outlookUrl}/history/20240115/demand.csv answered HTTP 403; that day's demand is skipped` },
    ])
    // the 16th still comes in whole
    expect(h.readings('/demand/current')[0]?.[0]).toBe(pst(16, 0, 0))
  })
})

describe('prices OASIS no longer serves', () => {
  it('fail an import clearly instead of finishing with nothing', async () => {
    const { driver: d } = fakeWaitDriver()
    const h = await createHarness(d, options({ Files: '', Nodes: SP15, Markets: 'DAM' }), { now: pst(1, 12, 0, 3) })
    const load = h.load({ start: pst(1, 0, 0, 1, 2019), end: pst(2, 0, 0, 1, 2019) })
    await expect(load).rejects.toMatchObject({ code: 'SMAP_CAISO_NO_DATA' })
    await expect(load).rejects.toThrow(
      new RegExp(
        '^OASIS has no PRC_LMP prices \\(DAM\\) for TH_SP15_GEN-APND from 2019-01-01T08:00:00\\.000Z to 2019-01-02T08:00:00\\.000Z: ' +
          '2019-01-01T08:00:00\\.000Z to 2019-01-02T08:00:00\\.000Z \\(http://127\\.0\\.0\\.1:\\d+/oasisapi/SingleZip\\?queryname=PRC_LMP.*: error 1000, "No data returned for the specified selection"\\)\\. ' +
          'OASIS no longer serves prices that old \\(or the node had none then\\); import a later range, or check the node names$',
      ),
    )
  })

  it('stay benign in a live poll, where a window may not be published yet', async () => {
    const { driver: d } = fakeWaitDriver()
    server.oasisQueue.push('no-data', 'no-data')
    const h = await createHarness(d, options({ Files: '', Nodes: SP15 }), { now: AT_1032 })
    await h.start()
    expect(h.errors).toEqual([])
    expect(h.health()).toEqual({ healthy: true })
    expect(h.logs).toEqual([])
  })
})

describe('many nodes', () => {
  it('asks OASIS for at most 10 nodes per request, 5 s apart', async () => {
    const { driver: d, waits } = fakeWaitDriver()
    server.asOf = AT_1032
    const nodes = [...Array.from({ length: 10 }, (_, i) => `NODE_${i}_N001`), NP15]
    const from = server.requests.length
    const h = await createHarness(d, options({ Files: '', Nodes: nodes.join(','), Markets: 'RTM' }), { now: AT_1032 })
    await h.start()
    const asked = since(from, '/oasisapi/SingleZip').map((r) => (r.query.get('node') ?? '').split(',').length)
    expect(asked).toEqual([10, 1])
    expect(waits).toEqual([5_000])
    expect(h.readings(`/lmp/${NP15}/rtm/lmp`)).toHaveLength(126)
    expect(h.health()).toEqual({ healthy: true })
  })
})
