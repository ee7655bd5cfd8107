import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sleep } from '../src/_time.js'
import { CaisoError } from '../src/errors.js'
import { nodeGroups, OasisClient, oasisUrl, parseOasisCsv, readOasisAnswer, splitWindows, type PriceRow } from '../src/oasis.js'
import { fixture, startFixtureServer, zip, type FixtureServer } from './_fixture-server.js'

const DAY = 86_400_000
const SP15 = 'TH_SP15_GEN-APND'
const NP15 = 'TH_NP15_GEN-APND'
const answer = (body: Uint8Array, status = 200, contentType = 'application/x-zip-compressed') => ({ url: 'http://oasis.test/oasisapi/SingleZip?x', status, contentType, body })
const rowsOf = (result: ReturnType<typeof readOasisAnswer>): PriceRow[] => (result.kind === 'rows' ? result.rows : [])

describe('OASIS answers', () => {
  it('reads the CSV inside the ZIP by header name, in time order and without the repeated rows', () => {
    // PRC_LMP version 12: OPR_INTERVAL after OPR_HR, the price in MW
    expect(fixture('oasis/PRC_LMP_DAM_v12.csv').toString().split('\n')[0]).toBe(
      'INTERVALSTARTTIME_GMT,INTERVALENDTIME_GMT,OPR_DT,OPR_HR,OPR_INTERVAL,NODE_ID_XML,NODE_ID,NODE,MARKET_RUN_ID,LMP_TYPE,XML_DATA_ITEM,PNODE_RESMRID,GRP_TYPE,POS,MW,GROUP',
    )
    const dam = rowsOf(readOasisAnswer(answer(zip('20240115_20240117_PRC_LMP_DAM_20240115_10_32_04_v12.csv', fixture('oasis/PRC_LMP_DAM_v12.csv')))))
    expect(dam).toHaveLength(2 * 48 * 5) // two nodes, 48 hours, LMP/MCE/MCC/MCL/MGHG; two repeated rows dropped
    expect(dam.every((r, i) => i === 0 || r.time >= (dam[i - 1] as PriceRow).time)).toBe(true)
    expect(new Set(dam.map((r) => `${r.node} ${r.component} ${r.time}`)).size).toBe(dam.length)
    const first = dam.filter((r) => r.node === SP15 && r.time === Date.UTC(2024, 0, 15, 8))
    const by = Object.fromEntries(first.map((r) => [r.component, r.value]))
    expect(by.LMP).toBeCloseTo((by.MCE ?? 0) + (by.MCC ?? 0) + (by.MCL ?? 0) + (by.MGHG ?? 0), 4)

    // PRC_INTVL_LMP version 3: the price in VALUE, OPR_INTERVAL after it
    expect(fixture('oasis/PRC_INTVL_LMP_RTM_v3.csv').toString().split('\n')[0]).toBe(
      'INTERVALSTARTTIME_GMT,INTERVALENDTIME_GMT,OPR_DT,OPR_HR,NODE_ID_XML,NODE_ID,NODE,MARKET_RUN_ID,LMP_TYPE,XML_DATA_ITEM,PNODE_RESMRID,GRP_TYPE,POS,VALUE,OPR_INTERVAL,GROUP',
    )
    const rtm = rowsOf(readOasisAnswer(answer(zip('20240115_20240115_PRC_INTVL_LMP_RTM_20240115_10_32_04_v3.csv', fixture('oasis/PRC_INTVL_LMP_RTM_v3.csv')))))
    expect(rtm).toHaveLength(2 * 132 * 5) // 5-minute intervals 00:00–10:55 PST, with MGHG
    expect(new Set(rtm.map((r) => r.component))).toEqual(new Set(['LMP', 'MCE', 'MCC', 'MCL', 'MGHG']))
  })

  it('takes the XML report of error 1000 inside a ZIP as no data, with its description', () => {
    expect(readOasisAnswer(answer(zip('20240115_20240116_PRC_LMP_DAM_v12.xml', fixture('oasis/no-data.xml'))))).toEqual({
      kind: 'none',
      description: 'No data returned for the specified selection',
    })
  })

  it('throws any other OASIS error with its code and description', () => {
    const bad = () => readOasisAnswer(answer(zip('INVALID_REQUEST.xml', fixture('oasis/invalid-request.xml'))))
    expect(bad).toThrow(CaisoError)
    expect(bad).toThrow('OASIS error 1002 for http://oasis.test/oasisapi/SingleZip?x: Invalid Request: node NOT_A_NODE does not exist')
  })

  it('tells a throttle page from data by the PK bytes of a ZIP, whatever the status', () => {
    const page = fixture('oasis/throttle.html')
    expect(readOasisAnswer(answer(page, 429, 'text/html'))).toEqual({ kind: 'throttled', status: 429 })
    expect(readOasisAnswer(answer(page, 200, 'text/html'))).toEqual({ kind: 'throttled', status: 200 })
    // served without a content type it is still an HTML page
    expect(readOasisAnswer(answer(page, 200, ''))).toEqual({ kind: 'throttled', status: 200 })
  })

  it('refuses an answer that is neither a ZIP nor a page, and a damaged ZIP', () => {
    expect(() => readOasisAnswer(answer(Buffer.from('oops'), 200, 'text/plain'))).toThrow('OASIS answered http://oasis.test/oasisapi/SingleZip?x with neither a ZIP nor an HTML page: "oops"')
    expect(() => readOasisAnswer(answer(Buffer.from('oops'), 503, 'text/plain'))).toThrow('OASIS answered HTTP 503 to http://oasis.test/oasisapi/SingleZip?x')
    const damaged = zip('x.csv', 'a,b\n').slice(0, 20)
    expect(() => readOasisAnswer(answer(damaged))).toThrow(/with a damaged ZIP/)
  })

  it('refuses a CSV that lacks the price columns, quoting its header', () => {
    expect(() => parseOasisCsv('INTERVALSTARTTIME_GMT,NODE,PRICE\n', 'x.csv')).toThrow(
      'OASIS file x.csv lacks a needed column (INTERVALSTARTTIME_GMT, NODE, LMP_TYPE and MW or VALUE); its header is "INTERVALSTARTTIME_GMT,NODE,PRICE"',
    )
  })
})

describe('OASIS queries', () => {
  it('asks with UTC times written YYYYMMDDTHH:MM-0000 and a CSV result (resultformat=6)', () => {
    const url = new URL(oasisUrl('https://oasis.caiso.com/oasisapi', 'RTM', [SP15, NP15], Date.UTC(2024, 0, 15, 8), Date.UTC(2024, 0, 15, 18, 35)))
    expect(url.pathname).toBe('/oasisapi/SingleZip')
    expect(Object.fromEntries(url.searchParams)).toEqual({
      queryname: 'PRC_INTVL_LMP',
      market_run_id: 'RTM',
      startdatetime: '20240115T08:00-0000',
      enddatetime: '20240115T18:35-0000',
      version: '3',
      node: `${SP15},${NP15}`,
      resultformat: '6',
    })
    const dam = new URL(oasisUrl('https://o/oasisapi', 'DAM', [SP15], 0, DAY)).searchParams
    expect([dam.get('queryname'), dam.get('version')]).toEqual(['PRC_LMP', '12'])
  })

  it('splits a node list into lists of at most 10', () => {
    const nodes = Array.from({ length: 23 }, (_, i) => `N${i}`)
    expect(nodeGroups(nodes).map((g) => g.length)).toEqual([10, 10, 3])
    expect(nodeGroups(nodes).flat()).toEqual(nodes)
    expect(nodeGroups(nodes.slice(0, 10))).toHaveLength(1)
  })

  it('splits a range into windows of at most 30 days', () => {
    const start = Date.UTC(2023, 11, 20, 8)
    expect(splitWindows(start, start + 45 * DAY)).toEqual([
      { start, end: start + 30 * DAY },
      { start: start + 30 * DAY, end: start + 45 * DAY },
    ])
    expect(splitWindows(start, start + 30 * DAY)).toHaveLength(1)
    expect(splitWindows(start, start)).toEqual([])
  })
})

describe('OasisClient', () => {
  let server: FixtureServer
  beforeAll(async () => {
    server = await startFixtureServer()
  })
  afterAll(async () => {
    await server.close()
  })

  /** A client on a clock that moves only by waiting (or by `clock.t += ms`). */
  function fakeClient(gapMs?: number) {
    const clock = { t: Date.UTC(2024, 0, 15, 18, 32) }
    const waits: number[] = []
    const throttled: string[] = []
    const client = new OasisClient({
      baseUrl: server.oasisUrl,
      now: () => clock.t,
      wait: async (ms) => {
        waits.push(ms)
        clock.t += ms
      },
      onThrottle: (m) => throttled.push(m),
      ...(gapMs === undefined ? {} : { gapMs }),
    })
    return { client, clock, waits, throttled }
  }

  const jan15 = Date.UTC(2024, 0, 15, 8)
  const signal = new AbortController().signal

  it('asks at most once per 5 seconds', async () => {
    const { client, clock, waits } = fakeClient()
    await client.prices('DAM', [SP15], jan15, jan15 + DAY, signal)
    await client.prices('RTM', [SP15], jan15, jan15 + DAY, signal)
    clock.t += 2_000
    await client.prices('RTM', [NP15], jan15, jan15 + DAY, signal)
    clock.t += 60_000
    await client.prices('RTM', [NP15], jan15, jan15 + DAY, signal)
    expect(waits).toEqual([5_000, 3_000])
  })

  it('answers only the asked nodes and window, and nothing for a window without data', async () => {
    const { client } = fakeClient()
    const rows = await client.prices('RTM', [NP15], jan15 + 3_600_000, jan15 + 7_200_000, signal)
    expect(rows).toHaveLength(12 * 5)
    expect(rows.every((r) => r.node === NP15 && r.time >= jan15 + 3_600_000 && r.time < jan15 + 7_200_000)).toBe(true)
    expect(await client.prices('RTM', [NP15], jan15 - 10 * DAY, jan15 - 9 * DAY, signal)).toEqual([])
  })

  it('retries a throttled request after 30 s, then 60 s, and gives up with SMAP_CAISO_THROTTLED', async () => {
    const { client, waits, throttled } = fakeClient()
    server.oasisQueue.push('throttle-429', 'throttle-200')
    const rows = await client.prices('DAM', [SP15], jan15, jan15 + DAY, signal, 4)
    expect(rows).toHaveLength(24 * 5)
    expect(waits).toEqual([30_000, 60_000])
    expect(throttled).toEqual(['OASIS is throttling requests (HTTP 429 with an HTML page); asking again in 30 s', 'OASIS is throttling requests (HTTP 200 with an HTML page); asking again in 60 s'])

    server.oasisQueue.push('throttle-429', 'throttle-429')
    const failure = client.prices('DAM', [SP15], jan15, jan15 + DAY, signal, 1)
    await expect(failure).rejects.toMatchObject({ code: 'SMAP_CAISO_THROTTLED' })
    await expect(failure).rejects.toThrow(/gave up after 2 tries, asking again in 60 s at the earliest/)
  })

  it('asks for more than 10 nodes in several requests of at most 10, 5 s apart', async () => {
    const { client, waits } = fakeClient()
    const others = Array.from({ length: 9 }, (_, i) => `NODE_${i}_N001`)
    const nodes = [SP15, ...others, NP15, 'NODE_9_N001']
    const from = server.requests.length
    const rows = await client.prices('RTM', nodes, jan15, jan15 + 3_600_000, signal)
    const asked = server.requests.slice(from).map((r) => (r.query.get('node') ?? '').split(','))
    // one list of 10 would be refused by OASIS; 12 go as 10 and 2
    expect(asked).toEqual([[SP15, ...others], [NP15, 'NODE_9_N001']])
    expect(waits).toEqual([5_000])
    expect(new Set(rows.map((r) => r.node))).toEqual(new Set([SP15, NP15]))
    expect(rows).toHaveLength(2 * 12 * 5)
    expect(rows.every((r, i) => i === 0 || r.time >= (rows[i - 1] as PriceRow).time)).toBe(true)
  })

  it('tells which requests OASIS answered with no data', async () => {
    const { client } = fakeClient()
    const result = await client.query('DAM', [SP15], jan15 - 10 * DAY, jan15 - 9 * DAY, signal)
    expect(result.rows).toEqual([])
    expect(result.noData).toEqual([{ url: expect.stringContaining('queryname=PRC_LMP') as string, description: 'No data returned for the specified selection' }])
  })

  it('refuses a window longer than 30 days before asking', async () => {
    const { client } = fakeClient()
    const before = server.requests.length
    await expect(client.prices('DAM', [SP15], jan15, jan15 + 31 * DAY, signal)).rejects.toThrow(/at most 30 days/)
    expect(server.requests.length).toBe(before)
  })

  it('waits with a real timer between requests, and stops waiting when aborted', async () => {
    const client = new OasisClient({ baseUrl: server.oasisUrl, now: () => Date.now(), wait: sleep, gapMs: 1_000 })
    const from = server.requests.length
    await client.prices('DAM', [SP15], jan15, jan15 + DAY, signal)
    await client.prices('DAM', [SP15], jan15, jan15 + DAY, signal)
    const [a, b] = server.requests.slice(from)
    // the gap is kept between sending requests; arrivals may jitter by the first one's connection setup
    expect((b?.at ?? 0) - (a?.at ?? 0)).toBeGreaterThanOrEqual(800)

    const controller = new AbortController()
    const pending = client.prices('DAM', [SP15], jan15, jan15 + DAY, controller.signal)
    controller.abort(new Error('driver stopped'))
    await expect(pending).rejects.toThrow('driver stopped')
  })
})
