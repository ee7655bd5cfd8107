import { uuid5 } from '@smap/sdk'
import { createHarness } from '@smap/testing'
import { describe, expect, it } from 'vitest'
import driver from '../src/index.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const T0 = Date.UTC(2024, 0, 1) // the harness clock's start

describe('{{name}}', () => {
  it('reads voltage, current and power now and every Rate seconds', async () => {
    const h = await createHarness(driver, { Rate: '2' })
    await h.start()
    await h.advance(4)
    expect(h.readings('/voltage')).toEqual([
      [T0, 230],
      [T0 + 2000, 230],
      [T0 + 4000, 230],
    ])
    expect(h.readings('/current').map(([, amps]) => amps)).toEqual([1, 3, 5])
    expect(h.readings('/power').map(([, watts]) => watts)).toEqual([230, 690, 1150])
    expect(h.errors).toEqual([])
  })

  it('scales current and power by Scale', async () => {
    const h = await createHarness(driver, { Scale: '10' })
    await h.start()
    await h.advance(1)
    expect(h.readings('/current').map(([, amps]) => amps)).toEqual([10, 20])
    expect(h.readings('/power').map(([, watts]) => watts)).toEqual([2300, 4600])
    expect(h.metadata('/power')).toEqual({ Extra: { Scale: '10' } })
  })

  it('describes the instrument and names its streams by key', async () => {
    const h = await createHarness(driver, {}, { root: ROOT, path: '/meter' })
    expect(h.metadata('/').Instrument).toEqual({ Manufacturer: 'Example Instruments', Model: 'Simulated meter', SamplingPeriod: '1' })
    expect(h.timeseries().map((ts) => [ts.fullPath, ts.unit, ts.readingType])).toEqual([
      ['/meter/voltage', 'V', 'double'],
      ['/meter/current', 'A', 'double'],
      ['/meter/power', 'W', 'double'],
    ])
    // a stream's uuid is uuid5(uuid5(root, where the driver is attached), key)
    expect(h.get('/power')?.uuid).toBe(uuid5(uuid5(ROOT, '/meter'), 'power'))
  })

  it('stops reading when stopped', async () => {
    const h = await createHarness(driver)
    await h.start()
    await h.stop()
    await h.advance(10)
    expect(h.readings('/power')).toHaveLength(1)
  })

  it('refuses bad options with the message smap prints for a config', async () => {
    await expect(createHarness(driver, { Rate: 'fast' })).rejects.toThrow(
      'invalid options for driver {{name}}: Rate: Invalid input: expected number, received NaN, got "fast"',
    )
    await expect(createHarness(driver, { Rate: '0' })).rejects.toThrow('Rate: Too small: expected number to be >0, got "0"')
    await expect(createHarness(driver, { Sacle: '2' })).rejects.toThrow('Sacle: unknown option for driver {{name}}; it accepts Rate, Scale')
  })
})
