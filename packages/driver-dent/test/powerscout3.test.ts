import { createHarness } from '@smap/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { PowerScout3, PowerScout3037, STREAMS } from '../src/index.js'
import { startFakeMeter, type Fault, type FakeMeter } from './fixtures/fake-meter.js'
import { elementRegisters } from './fixtures/registers.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const T0 = Date.UTC(2024, 0, 1)
const PATHS = STREAMS.map((s) => `/elt-A/${s.name}`)

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A PowerScout 3 at unit 1 with data scalar 5 (power x10, amps and volts whole). */
async function meter(framing: 'rtu' | 'mbap' = 'rtu'): Promise<FakeMeter> {
  const m = await startFakeMeter(framing)
  cleanup.push(() => m.close())
  m.load(1, 4000, elementRegisters())
  m.set(1, 4601, 5) // data scalar (manual 44602)
  m.set(1, 4603, 2) // volts multiplier, which the original driver read by mistake
  return m
}

async function run(m: FakeMeter, options: Record<string, string> = {}) {
  const h = await createHarness(PowerScout3, { Address: '127.0.0.1', Port: String(m.port), Limit: '0', Timeout: '0.2', Rate: '10', ...options })
  cleanup.push(() => h.stop())
  return h
}

const published = (h: Awaited<ReturnType<typeof run>>): number => PATHS.reduce((n, p) => n + h.readings(p).length, 0)

describe('PowerScout3', () => {
  it('builds one element with the original paths, keys and uuids', async () => {
    const h = await createHarness(PowerScout3, { Address: '10.0.0.7' }, { root: ROOT, path: '/building/ps3' })
    expect(h.timeseries().map((ts) => ts.path)).toEqual(PATHS)
    expect(h.timeseries().every((ts) => ts.key === ts.path)).toBe(true)
    // the uuids Python's uuid.uuid5 gives for the original Dent3 at /building/ps3
    expect(h.get('/elt-A/ABC/true_power')?.uuid).toBe('62f10fc6-d713-5d97-8113-ee57bb80cf8d')
    expect(h.get('/elt-A/AB/volts')?.uuid).toBe('616e9fc0-75d0-585d-97cf-c25721e74556')
    expect(h.get('/elt-A/ABC/line_frequency')?.uuid).toBe('ae8ebba2-4648-588c-a345-7fdf1211d490')
    expect(h.metadata('/')).toEqual({
      Extra: { Driver: 'smap.drivers.dent.Dent3', SystemType: 'Electrical' },
      Instrument: { Manufacturer: 'Dent Industries', Model: 'PowerScout 3', SamplingPeriod: '20' },
    })
  })

  it('reads the data scalar from register 4601 and applies it (scalar 5: power x10)', async () => {
    const m = await meter()
    const h = await run(m)
    await h.start()
    expect(m.requests.map(({ unit, address, count }) => [unit, address, count])).toEqual([
      [1, 4601, 1],
      [1, 4000, 70],
    ])
    expect(h.readings('/elt-A/ABC/true_energy')).toEqual([[T0, 1357320]])
    expect(h.readings('/elt-A/ABC/true_power')).toEqual([[T0, 123450]])
    expect(h.readings('/elt-A/B/true_power')).toEqual([[T0, -10]])
    expect(h.readings('/elt-A/ABC/current')).toEqual([[T0, 1234]])
    expect(h.readings('/elt-A/AB/volts')).toEqual([[T0, 4801]])
    expect(h.readings('/elt-A/C/apparent_pf')).toEqual([[T0, -0.99]])
    expect(published(h)).toBe(43)
    expect(h.health()).toEqual({ healthy: true })
  })

  it.each<[string, 'rtu' | 'mbap', Fault, string]>([
    ['a garbled RTU frame (bad CRC)', 'rtu', 'garble', 'garbled reply from unit 1, 70 registers at 4000: CRC error'],
    ['a short RTU reply', 'rtu', 'short', 'no reply from unit 1, 70 registers at 4000 within 0.2 s'],
    ['half an RTU frame', 'rtu', 'truncated', 'no reply from unit 1, 70 registers at 4000 within 0.2 s'],
    ['a short Modbus/TCP reply', 'mbap', 'short', 'garbled reply from unit 1, 70 registers at 4000: Data length error, expected 145 got 75'],
    ['a Modbus/TCP reply with the wrong function', 'mbap', 'garble', 'garbled reply from unit 1, 70 registers at 4000: Unexpected data error, expected code 3 got 4'],
    ['a Modbus exception', 'rtu', 'exception', 'unit 1, 70 registers at 4000 answered with Modbus exception 4: Slave device failure (device reports internal error)'],
    ['silence', 'rtu', 'silent', 'no reply from unit 1, 70 registers at 4000 within 0.2 s'],
  ])('rejects %s: nothing is published and the streams are stale', async (_, framing, fault, why) => {
    const m = await meter(framing)
    const h = await run(m, { Transport: framing === 'rtu' ? 'rtu-over-tcp' : 'modbus-tcp' })
    await h.start()
    expect(published(h)).toBe(43)
    m.fault = fault
    // the scalar is known, so the next poll asks only for the block
    await h.advance(10)
    expect(published(h)).toBe(43)
    const health = h.health()
    expect(health?.healthy).toBe(false)
    expect(health?.message?.replace(String(m.port), 'PORT')).toBe(
      `meter at 127.0.0.1:PORT (${framing === 'rtu' ? 'rtu-over-tcp' : 'modbus-tcp'}): elt-A (unit 1): ${why}; 1 failed try in a row, next in 10 s`,
    )
    expect(health?.stale).toEqual(PATHS)
    // the host logs the change of health with its message; the driver adds nothing
    expect(h.logs).toEqual([])
    expect(h.errors).toEqual([])

    // the meter answers properly again: the scalar is read anew and readings resume
    m.fault = 'ok'
    const before = m.requests.length
    await h.advance(10)
    expect(m.requests.slice(before).map((r) => r.address)).toEqual([4601, 4000])
    expect(h.readings('/elt-A/ABC/true_power')).toEqual([
      [T0, 123450],
      [T0 + 20_000, 123450],
    ])
    expect(h.health()).toEqual({ healthy: true })
    expect(h.logs).toEqual([])
  })

  it('reports an unknown data scalar as a clear error and publishes nothing', async () => {
    const m = await meter()
    m.set(1, 4601, 9)
    const h = await run(m)
    await h.start()
    expect(published(h)).toBe(0)
    expect(m.requests.map((r) => r.address)).toEqual([4601])
    expect(h.health()?.message?.replace(String(m.port), 'PORT')).toBe(
      "meter at 127.0.0.1:PORT (rtu-over-tcp): elt-A (unit 1): unit 1, register 4601: unknown data scalar 9: a PowerScout's data scalar is 0 to 6; check the meter's setup (ViewPoint) or that the driver matches the model; 1 failed try in a row, next in 10 s",
    )
    expect(h.errors).toEqual([])
  })

  it('backs off from a meter that stopped answering, doubling the wait, and notices when it is back', async () => {
    const m = await meter()
    m.fault = 'silent'
    const h = await run(m)
    const tries: number[] = []
    const at = (): void => void tries.push(m.requests.length)
    await h.start() // t=0: 1st failure, next try at 10
    at()
    for (let t = 10; t <= 150; t += 10) {
      await h.advance(10)
      at()
    }
    // tries at 0, 10, 30, 70 and 150 s
    expect(tries).toEqual([1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5])
    expect(h.health()?.message).toMatch(/; 5 failed tries in a row, next in 160 s$/)

    m.fault = 'ok'
    await h.advance(150)
    expect(m.requests.length).toBe(5)
    expect(published(h)).toBe(0)
    await h.advance(10) // t=310
    expect(published(h)).toBe(43)
    expect(h.readings('/elt-A/ABC/true_power')).toEqual([[T0 + 310_000, 123450]])
    expect(h.health()).toEqual({ healthy: true })
    expect(h.errors).toEqual([])
  })

  it('waits at most 5 minutes between tries', async () => {
    const m = await meter()
    m.fault = 'silent'
    const h = await run(m, { Rate: '60' })
    await h.start()
    for (let i = 0; i < 12; i++) await h.advance(60)
    // tries at 0, 60, 180, 420, 720 s: the wait grows 60, 120, 240, then stays at 300
    expect(m.requests.length).toBe(5)
    expect(h.health()?.message).toMatch(/next in 300 s$/)
  })

  it('spaces requests by Limit seconds', async () => {
    const m = await meter()
    const h = await run(m, { Limit: '0.25' })
    await h.start()
    await h.advance(10)
    expect(m.requests.map((r) => r.address)).toEqual([4601, 4000, 4000])
    const gaps = m.requests.slice(1).map((r, i) => r.at - (m.requests[i] as { at: number }).at)
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(240)
  })

  it('does not block the process while it waits for a meter', async () => {
    const m = await meter()
    m.fault = 'silent'
    const h = await run(m, { Timeout: '0.5' })
    let ticks = 0
    const timer = setInterval(() => ticks++, 20)
    try {
      await h.start()
    } finally {
      clearInterval(timer)
    }
    expect(ticks).toBeGreaterThanOrEqual(10)
  })

  it('keeps one connection open between polls and closes it when stopped', async () => {
    const m = await meter()
    const h = await run(m)
    await h.start()
    await h.advance(10)
    expect(m.connections).toBe(1)
    await h.stop()
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(m.connections).toBe(0)
  })
})

describe('PowerScout3037', () => {
  it('reads like the PowerScout 3 and says it is a 3037', async () => {
    const m = await meter('mbap')
    const h = await createHarness(PowerScout3037, { Address: '127.0.0.1', Port: String(m.port), Transport: 'modbus-tcp', Limit: '0' })
    cleanup.push(() => h.stop())
    await h.start()
    expect(m.requests.map((r) => [r.address, r.count])).toEqual([
      [4601, 1],
      [4000, 70],
    ])
    expect(h.readings('/elt-A/ABC/true_power')).toEqual([[T0, 123450]])
    expect(h.metadata('/').Instrument).toEqual({ Manufacturer: 'Dent Industries', Model: 'PowerScout 3037', SamplingPeriod: '20' })
  })
})
