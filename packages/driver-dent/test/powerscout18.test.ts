import modbus from 'modbus-serial'
import { uuid5 } from '@smap/sdk'
import { createHarness } from '@smap/testing'
import { afterEach, describe, expect, it } from 'vitest'
import driverDefault, { PowerScout18, STREAMS } from '../src/index.js'
import { closedPort, startFakeMeter, type FakeMeter } from './fixtures/fake-meter.js'
import { elementRegisters, EXPECTED_A_SCALAR_1 } from './fixtures/registers.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const T0 = Date.UTC(2024, 0, 1)

const cleanup: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A PowerScout 18 behind a serial gateway: units 1–6 answer, element by element. */
async function gateway(): Promise<FakeMeter> {
  const m = await startFakeMeter('rtu')
  cleanup.push(() => m.close())
  for (let i = 0; i < 6; i++) {
    m.load(1 + i, 4000, elementRegisters(i))
    m.load(1 + i, 4300, [0, 1, 0]) // data scalar 1 is the second of three
  }
  return m
}

describe('PowerScout18', () => {
  it('is the package’s default export', () => {
    expect(driverDefault).toBe(PowerScout18)
  })

  it('builds the original tree: elements A–F, seven phases, the original paths as keys, and their uuids', async () => {
    const h = await createHarness(PowerScout18, { Address: '10.0.0.7' }, { root: ROOT, path: '/building/ps18' })
    const streams = h.timeseries()
    expect(streams).toHaveLength(6 * 43)
    expect(streams.every((ts) => ts.key === ts.path && ts.readingType === 'double')).toBe(true)
    expect(h.collections().filter((c) => c !== '/')).toEqual(
      ['A', 'B', 'C', 'D', 'E', 'F'].flatMap((e) => [`/elt-${e}`, ...['A', 'B', 'C', 'ABC', 'AB', 'BC', 'AC'].map((p) => `/elt-${e}/${p}`)]),
    )
    expect(streams.slice(0, 43).map((ts) => ts.path)).toEqual(STREAMS.map((s) => `/elt-A/${s.name}`))
    expect(h.get('/elt-A/ABC/true_power')).toMatchObject({ unit: 'kW', fullPath: '/building/ps18/elt-A/ABC/true_power', description: 'element A system true power' })
    expect(h.get('/elt-C/AB/volts')).toMatchObject({ unit: 'V' })
    expect(h.get('/elt-A/A/line_frequency')).toBeUndefined()
    expect(h.get('/elt-A/ABC/phase-neutral_voltage')).toBeUndefined()

    // the uuids Python's uuid.uuid5 gives for the original driver at /building/ps18
    expect(h.get('/elt-A/ABC/true_power')?.uuid).toBe('23e98eba-5d28-5839-9a41-176dc0951d93')
    expect(h.get('/elt-A/AB/volts')?.uuid).toBe('485975ee-d82e-5bca-bea8-5a86cb6e9217')
    expect(h.get('/elt-F/C/phase-neutral_voltage')?.uuid).toBe('bdcbf494-6127-5138-ba98-9b2ee531d47f')
    expect(h.get('/elt-A/ABC/line_frequency')?.uuid).toBe(uuid5(uuid5(ROOT, '/building/ps18'), '/elt-A/ABC/line_frequency'))

    expect(h.metadata('/')).toEqual({
      Extra: { Driver: 'smap.drivers.dent.Dent18', SystemType: 'Electrical' },
      Instrument: { Manufacturer: 'Dent Industries', Model: 'PowerScout 18', SamplingPeriod: '20' },
    })
    expect(h.metadata('/elt-B')).toEqual({ Extra: { DentElement: 'elt-B' } })
    expect(h.metadata('/elt-B/BC')).toEqual({ Extra: { Phase: 'BC' } })
  })

  it('builds only the elements asked for', async () => {
    const h = await createHarness(PowerScout18, { Address: '10.0.0.7', elements: 'B,D' })
    expect(h.collections().filter((c) => /^\/elt-[A-F]$/.test(c))).toEqual(['/elt-B', '/elt-D'])
    expect(h.timeseries()).toHaveLength(2 * 43)
  })

  it('reads each element from its own unit with RTU frames through a gateway and publishes every stream', async () => {
    const m = await gateway()
    const h = await createHarness(PowerScout18, { Address: '127.0.0.1', Port: String(m.port), Limit: '0' })
    await h.start()
    expect(m.requests.map(({ unit, address, count }) => [unit, address, count])).toEqual(
      [1, 2, 3, 4, 5, 6].flatMap((unit) => [
        [unit, 4300, 3],
        [unit, 4000, 70],
      ]),
    )
    for (const [name, value] of Object.entries(EXPECTED_A_SCALAR_1)) expect(h.readings(`/elt-A/${name}`), name).toEqual([[T0, value]])
    // register 4002 differs by element, so each value came from its own unit
    expect(['A', 'B', 'C', 'D', 'E', 'F'].map((e) => h.readings(`/elt-${e}/ABC/true_power`)[0]?.[1])).toEqual([12.345, 12.346, 12.347, 12.348, 12.349, 12.35])
    expect(h.health()).toEqual({ healthy: true })
    expect(h.errors).toEqual([])

    // the scalar is read once; later polls read only the block
    await h.advance(20)
    expect(m.requests.slice(12).map(({ unit, address }) => [unit, address])).toEqual([1, 2, 3, 4, 5, 6].map((unit) => [unit, 4000]))
    expect(h.readings('/elt-F/ABC/true_power')).toEqual([
      [T0, 12.35],
      [T0 + 20_000, 12.35],
    ])
    await h.stop()
  })

  it('reads over Modbus/TCP from modbus-serial’s server, element C at unit ModbusBase + 2', async () => {
    const port = await closedPort()
    const seen: Array<[number, number, number]> = []
    let hang = false
    const server = new modbus.ServerTCP(
      {
        getMultipleHoldingRegisters: (addr: number, length: number, unitID: number, reply: (err: Error | null, values: number[]) => void) => {
          seen.push([unitID, addr, length])
          if (hang) return // a meter that stopped answering
          reply(null, addr === 4300 ? [9, 1, 9] : elementRegisters(unitID - 10))
        },
      },
      { host: '127.0.0.1', port },
    )
    server.on('error', () => {})
    await new Promise((resolve) => server.on('initialized', resolve))
    cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())))

    const h = await createHarness(PowerScout18, { Address: '127.0.0.1', Port: String(port), Transport: 'modbus-tcp', ModbusBase: '10', elements: 'A,C', Limit: '0', Timeout: '0.3', Rate: '5' })
    await h.start()
    expect(seen).toEqual([
      [10, 4300, 3],
      [10, 4000, 70],
      [12, 4300, 3],
      [12, 4000, 70],
    ])
    for (const [name, value] of Object.entries(EXPECTED_A_SCALAR_1)) {
      if (name !== 'ABC/true_power') expect(h.readings(`/elt-C/${name}`), name).toEqual([[T0, value]])
    }
    expect(h.readings('/elt-A/ABC/true_power')).toEqual([[T0, 12.345]])
    expect(h.readings('/elt-C/ABC/true_power')).toEqual([[T0, 12.347]])

    // the server stops answering: nothing is published, the streams go stale, the driver keeps running
    hang = true
    await h.advance(5)
    expect(h.readings('/elt-A/ABC/true_power')).toHaveLength(1)
    expect(h.readings('/elt-C/ABC/true_power')).toHaveLength(1)
    const health = h.health()
    expect(health?.healthy).toBe(false)
    expect(health?.message?.replace(String(port), 'PORT')).toBe(
      'meter at 127.0.0.1:PORT (modbus-tcp): elt-A (unit 10): no reply from unit 10, 70 registers at 4000 within 0.3 s; 1 failed try in a row, next in 5 s; ' +
        'elt-C (unit 12): no reply from unit 12, 70 registers at 4000 within 0.3 s; 1 failed try in a row, next in 5 s',
    )
    expect(health?.stale).toEqual([...STREAMS.map((s) => `/elt-A/${s.name}`), ...STREAMS.map((s) => `/elt-C/${s.name}`)])
    expect(h.errors).toEqual([])
    await h.stop()
  })

  it('tries an unreachable gateway once per poll and marks every element stale', async () => {
    const port = await closedPort()
    const h = await createHarness(PowerScout18, { Address: '127.0.0.1', Port: String(port), Limit: '0', elements: 'A,B' })
    await h.start()
    const health = h.health()
    expect(health?.message?.replaceAll(String(port), 'PORT')).toBe(
      'meter at 127.0.0.1:PORT (rtu-over-tcp): elt-A (unit 1): cannot connect to 127.0.0.1:PORT (rtu-over-tcp): connect ECONNREFUSED 127.0.0.1:PORT; 1 failed try in a row, next in 20 s; ' +
        'elt-B (unit 2): cannot connect to 127.0.0.1:PORT (rtu-over-tcp): connect ECONNREFUSED 127.0.0.1:PORT; 1 failed try in a row, next in 20 s',
    )
    expect(health?.stale).toHaveLength(2 * 43)
    expect(h.errors).toEqual([])
    await h.stop()
  })

  it('goes on reading the elements that answer, and logs elements that fail or recover while the meter stays unhealthy', async () => {
    const m = await gateway()
    const h = await createHarness(PowerScout18, { Address: '127.0.0.1', Port: String(m.port), Limit: '0', Timeout: '0.2', Rate: '10', elements: 'A,B,C' })
    await h.start()
    m.muted.add(2)
    await h.advance(10) // B fails: the health changes, which the host logs
    expect(h.health()?.stale).toEqual(STREAMS.map((s) => `/elt-B/${s.name}`))
    expect(h.logs).toEqual([])
    m.muted.add(3)
    m.muted.delete(2)
    await h.advance(10) // B answers again, C fails
    expect(h.logs.map((l) => [l.level, l.message.replace(String(m.port), 'PORT')])).toEqual([
      ['info', 'elt-B (unit 2) answers again after 1 failed try'],
      ['warn', 'elt-C (unit 3) at 127.0.0.1:PORT (rtu-over-tcp): no reply from unit 3, 70 registers at 4000 within 0.2 s; retrying with backoff'],
    ])
    expect(h.health()?.stale).toEqual(STREAMS.map((s) => `/elt-C/${s.name}`))
    expect(h.readings('/elt-A/ABC/true_power')).toHaveLength(3)
    expect(h.readings('/elt-B/ABC/true_power')).toHaveLength(2)
    expect(h.readings('/elt-C/ABC/true_power')).toHaveLength(2)
    expect(h.errors).toEqual([])
    await h.stop()
  })
})
