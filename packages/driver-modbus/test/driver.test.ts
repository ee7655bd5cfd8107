import { createHarness } from '@smap/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { ModbusDriver } from '../src/index.js'
import { mapFolder, rows } from './_map.js'
import { startDevice, type Device } from './fixtures/device.js'

const T0 = Date.UTC(2024, 0, 1)

// Each type in each order holding one value, and the registers that carry it as the device sends
// them (worked out with Python's struct module, not with this driver's codec).
const LAYOUTS: Array<[type: string, order: string, value: number, registers: number[]]> = [
  ['int16', 'AB', -12345, [0xcfc7]],
  ['int16', 'BA', -12345, [0xc7cf]],
  ['uint16', 'AB', 54321, [0xd431]],
  ['uint16', 'BA', 54321, [0x31d4]],
  ['int32', 'ABCD', -123456789, [0xf8a4, 0x32eb]],
  ['int32', 'CDAB', -123456789, [0x32eb, 0xf8a4]],
  ['int32', 'BADC', -123456789, [0xa4f8, 0xeb32]],
  ['int32', 'DCBA', -123456789, [0xeb32, 0xa4f8]],
  ['uint32', 'ABCD', 3000000000, [0xb2d0, 0x5e00]],
  ['uint32', 'CDAB', 3000000000, [0x5e00, 0xb2d0]],
  ['uint32', 'BADC', 3000000000, [0xd0b2, 0x005e]],
  ['uint32', 'DCBA', 3000000000, [0x005e, 0xd0b2]],
  ['float32', 'ABCD', 21.5, [0x41ac, 0x0000]],
  ['float32', 'CDAB', 21.5, [0x0000, 0x41ac]],
  ['float32', 'BADC', 21.5, [0xac41, 0x0000]],
  ['float32', 'DCBA', 21.5, [0x0000, 0xac41]],
  ['float64', 'ABCD', -1234.5678, [0xc093, 0x4a45, 0x6d5c, 0xfaad]],
  ['float64', 'CDAB', -1234.5678, [0xfaad, 0x6d5c, 0x4a45, 0xc093]],
  ['float64', 'BADC', -1234.5678, [0x93c0, 0x454a, 0x5c6d, 0xadfa]],
  ['float64', 'DCBA', -1234.5678, [0xadfa, 0x5c6d, 0x454a, 0x93c0]],
]
/** Each layout at its own address, 10 apart (so each is its own read with MaxGap = 0). */
const at = (i: number): number => 1000 + 10 * i
const layoutPath = ([type, order]: (typeof LAYOUTS)[number]): string => `/${type}/${order}`

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

async function device(framing: 'mbap' | 'rtu' = 'mbap'): Promise<Device> {
  const d = await startDevice(framing)
  cleanup.push(() => d.close())
  return d
}

async function run(d: Device, map: string, options: Record<string, string> = {}, framing: 'mbap' | 'rtu' = 'mbap') {
  const folder = mapFolder()
  cleanup.push(() => folder.clean())
  const h = await createHarness(
    ModbusDriver,
    { Address: '127.0.0.1', Port: String(d.port), Transport: framing === 'mbap' ? 'modbus-tcp' : 'rtu-over-tcp', Limit: '0', Timeout: '0.5', Rate: '10', RegisterMap: folder.write('map.csv', map), ...options },
    { minWriteInterval: 0 },
  )
  cleanup.push(() => h.stop())
  return h
}

describe.each(['mbap', 'rtu'] as const)('every type in every order, over %s', (framing) => {
  const map = rows(LAYOUTS.map((l, i) => ({ path: layoutPath(l), function: 'holding', address: at(i), type: l[0], order: l[1], unit: 'x', writable: true })))

  it('reads each value from the registers the device holds', async () => {
    const d = await device(framing)
    LAYOUTS.forEach(([, , , regs], i) => d.set('holding', at(i), regs))
    const h = await run(d, map, { MaxGap: '0' }, framing)
    await h.start()
    for (const l of LAYOUTS) expect(h.readings(layoutPath(l)), layoutPath(l)).toEqual([[T0, l[2]]])
    expect(h.health()).toEqual({ healthy: true })
  })

  it('writes each value as those registers, and answers with the state read back', async () => {
    const d = await device(framing)
    LAYOUTS.forEach(([, , , regs], i) => d.set('holding', at(i), regs.map(() => 0)))
    const h = await run(d, map, { MaxGap: '0' }, framing)
    await h.start()
    for (const [i, l] of LAYOUTS.entries()) {
      const before = d.requests.length
      expect((await h.write(layoutPath(l), l[2])).state, layoutPath(l)).toBe(l[2])
      const regs = l[3].map((_, k) => d.get('holding', at(i) + k))
      expect(regs, layoutPath(l)).toEqual(l[3])
      // one register: function 06; more: function 16; then the read back (03)
      expect(d.requests.slice(before).map((r) => [r.fc, r.address, r.count])).toEqual([
        [l[3].length === 1 ? 6 : 16, at(i), l[3].length],
        [3, at(i), l[3].length],
      ])
    }
    expect(h.readings(layoutPath(LAYOUTS[0] as (typeof LAYOUTS)[number]))).toEqual([
      [T0, 0],
      [T0, -12345],
    ])
  })
})

describe('scale and offset', () => {
  const map = rows([
    { path: '/supply_temp', function: 'input', address: 0, type: 'int16', scale: 0.1, unit: 'degC' },
    { path: '/outdoor_temp', function: 'input', address: 1, type: 'uint16', scale: 0.1, offset: -40, unit: 'degC' },
    { path: '/setpoint', function: 'holding', address: 10, type: 'uint16', scale: 0.1, offset: -40, unit: 'degC', writable: true, min: 10, max: 30 },
    { path: '/flow', function: 'holding', address: 20, type: 'float32', scale: 3.6, unit: 'm3/h' },
  ])

  it('turns raw values into engineering units: value = raw × scale + offset', async () => {
    const d = await device()
    d.set('input', 0, [0xff38, 650]) // -200 and 650
    d.set('holding', 10, [615])
    d.set('holding', 20, [0x41ac, 0]) // 21.5 l/s
    const h = await run(d, map)
    await h.start()
    expect(h.readings('/supply_temp')).toEqual([[T0, -20]])
    expect(h.readings('/outdoor_temp')).toEqual([[T0, 25]])
    expect(h.readings('/setpoint')).toEqual([[T0, 21.5]])
    expect(h.readings('/flow')).toEqual([[T0, 77.4]])
    expect(h.get('/supply_temp')?.readingType).toBe('double')
    expect(h.get('/setpoint')?.actuator).toEqual({ Model: 'continuous', MinValue: 10, MaxValue: 30 })
  })

  it('writes the raw value for an engineering value, rounded to the register, and reports what the device then holds', async () => {
    const d = await device()
    d.set('input', 0, [0, 0])
    d.set('holding', 10, [615])
    d.set('holding', 20, [0, 0])
    const h = await run(d, map)
    await h.start()
    // (22.37 + 40) / 0.1 = 623.7: the register takes 624, which is 22.4
    expect((await h.write('/setpoint', 22.37)).state).toBe(22.4)
    expect(d.get('holding', 10)).toBe(624)
  })
})

describe('block reads', () => {
  it('reads adjacent points of one table and unit together: fewer requests than points', async () => {
    const d = await device()
    d.set('holding', 0, [1, 2, 0x41ac, 0, 5])
    d.set('holding', 7, [7]) // a gap of 2 unmapped registers (5 and 6), bridged
    d.set('holding', 5, [0, 0])
    d.set('holding', 200, [200]) // far away: its own read
    d.set('input', 0, [10, 11])
    d.set('coil', 0, [true, false, true])
    d.set('discrete', 3, [true])
    d.set('holding', 0, [99], 2) // the same address of another unit
    const map = rows([
      { path: '/a', function: 'holding', address: 0, unit: 'x' },
      { path: '/b', function: 'holding', address: 1, unit: 'x' },
      { path: '/c', function: 'holding', address: 2, type: 'float32', unit: 'x' },
      { path: '/d', function: 'holding', address: 4, unit: 'x' },
      { path: '/e', function: 'holding', address: 7, unit: 'x' },
      { path: '/far', function: 'holding', address: 200, unit: 'x' },
      { path: '/in/a', function: 'input', address: 0, unit: 'x' },
      { path: '/in/b', function: 'input', address: 1, unit: 'x' },
      { path: '/relay/1', function: 'coil', address: 0, unit: 'on/off' },
      { path: '/relay/2', function: 'coil', address: 1, unit: 'on/off' },
      { path: '/relay/3', function: 'coil', address: 2, unit: 'on/off', writable: true },
      { path: '/alarm', function: 'discrete', address: 3, unit: 'on/off' },
      { path: '/other', function: 'holding', address: 0, unit: 'x', unitid: 2 },
    ])
    const h = await run(d, map, { MaxGap: '2' })
    await h.start()
    expect(d.requests.map((r) => [r.unit, r.fc, r.address, r.count])).toEqual([
      [1, 1, 0, 3],
      [1, 2, 3, 1],
      [1, 3, 0, 8],
      [1, 3, 200, 1],
      [1, 4, 0, 2],
      [2, 3, 0, 1],
    ])
    const values = Object.fromEntries(h.timeseries().map((ts) => [ts.path, ts.readings.map(([, v]) => v)]))
    expect(values).toEqual({
      '/a': [1],
      '/b': [2],
      '/c': [21.5],
      '/d': [5],
      '/e': [7],
      '/far': [200],
      '/in/a': [10],
      '/in/b': [11],
      '/relay/1': [1],
      '/relay/2': [0],
      '/relay/3': [1],
      '/alarm': [1],
      '/other': [99],
    })
    expect(h.collections()).toEqual(['/', '/in', '/relay'])
  })

  it('splits a run longer than Modbus allows: 125 registers, or MaxBlock', async () => {
    const d = await device()
    d.set('holding', 0, Array.from({ length: 300 }, (_, i) => i))
    const map = rows(Array.from({ length: 300 }, (_, i) => ({ path: `/r${i}`, function: 'holding', address: i, unit: 'x' })))
    const h = await run(d, map)
    await h.start()
    expect(d.requests.map((r) => [r.address, r.count])).toEqual([
      [0, 125],
      [125, 125],
      [250, 50],
    ])
    expect(h.readings('/r299')).toEqual([[T0, 299]])
    const small = await run(d, map, { MaxBlock: '100' })
    d.requests.length = 0
    await small.start()
    expect(d.requests.map((r) => r.count)).toEqual([100, 100, 100])
  })

  it('does not read across a gap wider than MaxGap, nor split a point over two reads', async () => {
    const d = await device()
    d.set('holding', 0, [1])
    d.set('holding', 10, [2])
    d.set('holding', 120, [3])
    d.set('holding', 123, [0x41ac, 0])
    const map = rows([
      { path: '/a', function: 'holding', address: 0, unit: 'x' },
      { path: '/b', function: 'holding', address: 10, unit: 'x' },
      { path: '/c', function: 'holding', address: 120, unit: 'x' },
      { path: '/f', function: 'holding', address: 123, type: 'float32', unit: 'x' },
    ])
    const h = await run(d, map, { MaxGap: '8', MaxBlock: '4' })
    await h.start()
    // 0 and 10 are 9 apart; 120 to 124 would be 5 registers
    expect(d.requests.map((r) => [r.address, r.count])).toEqual([
      [0, 1],
      [10, 1],
      [120, 1],
      [123, 2],
    ])
    expect(h.readings('/f')).toEqual([[T0, 21.5]])
  })
})

describe('writes', () => {
  const map = rows([
    { path: '/fan', function: 'coil', address: 3, unit: 'on/off', writable: true },
    { path: '/damper', function: 'holding', address: 0, type: 'uint16', unit: '%', writable: true, min: 0, max: 100 },
    { path: '/offset', function: 'holding', address: 1, type: 'int16', unit: 'K', writable: true },
    { path: '/locked', function: 'holding', address: 2, type: 'uint16', unit: 'x', writable: true },
  ])

  async function started() {
    const d = await device()
    d.set('coil', 3, [false])
    d.set('holding', 0, [50, 0, 7])
    const h = await run(d, map)
    await h.start()
    return { d, h }
  }

  it('switches a writable coil, a binary actuator, and reads it back', async () => {
    const { d, h } = await started()
    expect(h.get('/fan')?.actuator).toMatchObject({ Model: 'binary' })
    expect((await h.write('/fan', 'on')).state).toBe(1)
    expect(d.get('coil', 3)).toBe(true)
    expect((await h.write('/fan', 0)).state).toBe(0)
    expect(d.get('coil', 3)).toBe(false)
    expect(h.readings('/fan').map(([, v]) => v)).toEqual([0, 1, 0])
  })

  it('makes an integer register with no scale a continuousInteger actuator over its type, or the map range', async () => {
    const { h } = await started()
    expect(h.get('/damper')?.actuator).toEqual({ Model: 'continuousInteger', MinValue: 0, MaxValue: 100 })
    expect(h.get('/offset')?.actuator).toEqual({ Model: 'continuousInteger', MinValue: -32768, MaxValue: 32767 })
    expect((await h.write('/offset', -5)).state).toBe(-5)
  })

  it('refuses a state out of range as a client mistake (400), before the device sees it', async () => {
    const { d, h } = await started()
    const before = d.requests.length
    await expect(h.write('/damper', 101)).rejects.toMatchObject({ code: 'SMAP_STATE_INVALID', message: '/damper cannot take the state 101: it takes a whole number from 0 to 100' })
    await expect(h.write('/offset', 40000)).rejects.toMatchObject({ code: 'SMAP_STATE_INVALID', message: '/offset cannot take the state 40000: it takes a whole number from -32768 to 32767' })
    await expect(h.write('/damper', 2.5)).rejects.toMatchObject({ code: 'SMAP_STATE_INVALID' })
    expect(d.requests.length).toBe(before)
    expect(d.get('holding', 0)).toBe(50)
  })

  it('passes on a Modbus exception from the device as a refused write, and the point keeps its state', async () => {
    const { d, h } = await started()
    d.locked.add(2)
    await expect(h.write('/locked', 8)).rejects.toMatchObject({
      code: 'SMAP_ACTUATE_REFUSED',
      message: 'the write to /locked failed: unit 1, writing register 2 answered with Modbus exception 3: Illegal data value (value cannot be written to this register)',
    })
    expect(d.get('holding', 2)).toBe(7)
    expect(h.readings('/locked').map(([, v]) => v)).toEqual([7])
    expect(h.errors).toEqual([])
  })
})

describe('a device that fails', () => {
  it('marks the points of a failed read stale and says why, and goes on with the other reads', async () => {
    const d = await device()
    d.set('holding', 0, [1])
    d.set('input', 0, [0x41ac])
    const map = rows([
      { path: '/ok', function: 'holding', address: 0, unit: 'x' },
      { path: '/gone', function: 'input', address: 0, type: 'float32', unit: 'x' },
    ])
    const h = await run(d, map)
    await h.start()
    expect(h.readings('/ok')).toEqual([[T0, 1]])
    expect(h.health()?.message?.replace(String(d.port), 'PORT')).toBe(
      'device at 127.0.0.1:PORT (modbus-tcp): 1 of 2 reads failed: unit 1, 2 input registers at 0 answered with Modbus exception 2: Illegal data address (register not supported by device)',
    )
    expect(h.health()?.stale).toEqual(['/gone'])
    d.set('input', 1, [0])
    await h.advance(10)
    expect(h.health()).toEqual({ healthy: true })
    expect(h.readings('/gone')).toEqual([[T0 + 10_000, 21.5]])
  })
})
