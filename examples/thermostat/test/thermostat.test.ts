import { createHarness } from '@smap/testing'
import { describe, expect, it } from 'vitest'
import thermostat from '../src/index.js'

describe('the demo thermostat', () => {
  it('heats the room towards a setpoint written to it, and keeps the setpoint across a restart', async () => {
    const h = await createHarness(thermostat, { Temperature: '18' })
    expect(h.get('/setpoint')?.actuator).toEqual({ Model: 'continuous', MinValue: 10, MaxValue: 30, StepSize: 0.5 })
    expect(h.get('/mode')?.actuator).toEqual({ Model: 'discrete', Values: ['heat', 'cool', 'off'] })
    await h.start()
    expect((await h.write('/setpoint', '24')).state).toBe(24)
    await h.write('/fan', 'on')
    await h.advance(20)
    const temps = h.readings('/temperature').map(([, v]) => v as number)
    expect(temps.at(-1)).toBeGreaterThan(23)
    expect(temps.at(-1)).toBeLessThanOrEqual(24)
    await h.advance(1)
    expect((await h.write('/mode', 'off')).state).toBe('off')
    await h.advance(1)
    await expect(h.write('/setpoint', 35)).rejects.toMatchObject({ code: 'SMAP_STATE_INVALID' })
    await h.stop()
    const again = await createHarness(thermostat, {}, { state: h.state() })
    await again.start()
    expect(again.readings('/setpoint').map(([, v]) => v)).toEqual([24])
    expect(again.readings('/mode').map(([, v]) => v)).toEqual([2])
  })
})
