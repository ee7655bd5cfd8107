import { defineDriver, z } from '@smap/sdk'
import { describe, expect, it } from 'vitest'
import { createHarness } from '../src/index.js'

/** A pretend thermostat: the device side the tests look at. */
function thermostat(device: { setpoint: number; writes: number[]; refuse?: string; hang?: boolean; clampTo?: number }) {
  return defineDriver({
    name: 'thermostat',
    options: z.object({}),
    setup(ctx) {
      ctx.addActuator('/setpoint', {
        unit: 'C',
        model: 'continuous',
        min: 10,
        max: 30,
        step: 0.5,
        async write(value, { signal }) {
          if (device.refuse) throw new Error(device.refuse)
          if (device.hang) await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error)))
          device.writes.push(value as number)
          device.setpoint = device.clampTo !== undefined ? Math.min(value as number, device.clampTo) : (value as number)
        },
        read: () => device.setpoint,
      })
      ctx.addActuator('/mode', { unit: 'mode', model: 'discrete', values: ['heat', 'cool', 'off'], write: () => undefined })
      ctx.addActuator('/fan', { unit: 'on/off', model: 'binary', write: (v) => v })
    },
    start() {},
  })
}

describe('actuators in the harness', () => {
  it('writes, reads back the device, and records every state reached as a reading', async () => {
    const device = { setpoint: 20, writes: [] as number[] }
    const h = await createHarness(thermostat(device))
    expect(h.get('/setpoint')?.actuator).toEqual({ Model: 'continuous', MinValue: 10, MaxValue: 30, StepSize: 0.5 })
    expect(h.get('/setpoint')?.readingType).toBe('double')
    await h.start()
    // the host reads the device when the driver starts
    expect(h.readings('/setpoint').map(([, v]) => v)).toEqual([20])
    const r = await h.write('/setpoint', '21.5')
    expect(r.state).toBe(21.5)
    expect(device.writes).toEqual([21.5])
    expect(h.readings('/setpoint').map(([, v]) => v)).toEqual([20, 21.5])
  })

  it('records the state the device reached, not the one asked for', async () => {
    const device = { setpoint: 20, writes: [] as number[], clampTo: 25 }
    const h = await createHarness(thermostat(device))
    await h.start()
    expect((await h.write('/setpoint', 28)).state).toBe(25)
  })

  it('refuses states outside the model, naming what it takes, and never calls the device', async () => {
    const device = { setpoint: 20, writes: [] as number[] }
    const h = await createHarness(thermostat(device))
    await h.start()
    await expect(h.write('/setpoint', 31)).rejects.toMatchObject({ code: 'SMAP_STATE_INVALID', message: expect.stringContaining('a number from 10 to 30 in steps of 0.5') })
    await expect(h.write('/setpoint', 20.3)).rejects.toMatchObject({ code: 'SMAP_STATE_INVALID' })
    await expect(h.write('/mode', 'auto')).rejects.toMatchObject({ message: expect.stringContaining('one of heat, cool, off') })
    expect(device.writes).toEqual([])
  })

  it('keeps discrete states as their index and binary ones as 0/1', async () => {
    const h = await createHarness(thermostat({ setpoint: 20, writes: [] }))
    await h.start()
    expect((await h.write('/mode', 'cool')).state).toBe('cool')
    expect(h.readings('/mode').map(([, v]) => v)).toEqual([1])
    expect((await h.write('/fan', 'ON')).state).toBe(1)
    await h.advance(1)
    expect((await h.write('/fan', 'false')).state).toBe(0)
  })

  it('refuses a second write inside the minimum interval, then accepts it', async () => {
    const h = await createHarness(thermostat({ setpoint: 20, writes: [] }))
    await h.start()
    await h.write('/setpoint', 21)
    await expect(h.write('/setpoint', 22)).rejects.toMatchObject({ code: 'SMAP_ACTUATE_TOO_SOON', retryAfterMs: 1000 })
    await h.advance(1)
    expect((await h.write('/setpoint', 22)).state).toBe(22)
  })

  it('passes on what the device says when it refuses, and a write that never ends times out', async () => {
    const device: Parameters<typeof thermostat>[0] = { setpoint: 20, writes: [], refuse: 'setpoint locked at the panel' }
    const h = await createHarness(thermostat(device))
    await h.start()
    await expect(h.write('/setpoint', 21)).rejects.toMatchObject({ code: 'SMAP_ACTUATE_REFUSED', message: 'the write to /setpoint failed: setpoint locked at the panel' })
    device.refuse = ''
    device.hang = true
    await h.advance(1)
    const hung = h.write('/setpoint', 22)
    const seen = expect(hung).rejects.toMatchObject({ code: 'SMAP_ACTUATE_TIMEOUT' })
    await h.advance(10)
    await seen
    // the process goes on: the driver is still running, and the next write works
    device.hang = false
    expect((await h.write('/setpoint', 23)).state).toBe(23)
    expect(h.errors).toEqual([])
  })

  it('refuses writes while the driver is not running', async () => {
    const h = await createHarness(thermostat({ setpoint: 20, writes: [] }))
    await expect(h.write('/setpoint', 21)).rejects.toMatchObject({ code: 'SMAP_ACTUATE_UNAVAILABLE' })
    await h.start()
    await h.stop()
    await expect(h.write('/setpoint', 21)).rejects.toMatchObject({ code: 'SMAP_ACTUATE_UNAVAILABLE', message: expect.stringContaining('is stopped') })
  })

  it('serializes writes: the device never sees two at once', async () => {
    let inFlight = 0
    let most = 0
    const driver = defineDriver({
      name: 'slow',
      setup(ctx) {
        ctx.addActuator('/relay', {
          unit: 'on/off',
          model: 'binary',
          async write() {
            inFlight++
            most = Math.max(most, inFlight)
            await new Promise((r) => setImmediate(r))
            inFlight--
          },
        })
      },
      start() {},
    })
    const h = await createHarness(driver, {}, { minWriteInterval: 0 })
    await h.start()
    const all = await Promise.all([h.write('/relay', 1), h.write('/relay', 0), h.write('/relay', 1)])
    expect(all.map((r) => r.state)).toEqual([1, 0, 1])
    expect(most).toBe(1)
  })
})
