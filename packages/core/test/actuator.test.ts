import { describe, expect, it } from 'vitest'
import { ActuatorModel, type ActuatorSpec } from '../src/tree/actuator.js'

const model = (spec: ActuatorSpec): ActuatorModel => new ActuatorModel(spec, '/hvac/mode')
const refusal = (m: ActuatorModel, state: unknown): string => {
  try {
    m.parse(state, '/p')
  } catch (err) {
    return `${(err as { code: string }).code}: ${(err as Error).message}`
  }
  return 'accepted'
}

describe('actuator models', () => {
  it('binary: 0/1, off/on, false/true in any case, served with the original states', () => {
    const m = model({ model: 'binary' })
    for (const s of ['0', 'off', 'OFF', 'false', 'False', 0, false, ' off ']) expect(m.parse(s, '/p')).toBe(0)
    for (const s of ['1', 'on', 'On', 'TRUE', 1, true]) expect(m.parse(s, '/p')).toBe(1)
    expect(refusal(m, '2')).toBe('SMAP_STATE_INVALID: /p cannot take the state "2": it takes 0 or 1 (also off/on, false/true)')
    for (const s of ['yes', '', null, undefined, {}, 0.5]) expect(refusal(m, s)).toMatch(/^SMAP_STATE_INVALID: /)
    expect(m.toJSON()).toEqual({ Model: 'binary', States: [['0', 'off'], ['1', 'on']] })
  })

  it('discrete: one of its values, exactly', () => {
    const m = model({ model: 'discrete', values: ['heat', 'cool', 'off'] })
    expect(m.parse('cool', '/p')).toBe('cool')
    expect(m.parse(' off', '/p')).toBe('off')
    expect(refusal(m, 'Cool')).toBe('SMAP_STATE_INVALID: /p cannot take the state "Cool": it takes one of heat, cool, off')
    expect(m.toJSON()).toEqual({ Model: 'discrete', Values: ['heat', 'cool', 'off'] })
  })

  it('continuous: a number in range, on the step grid when there is one', () => {
    const m = model({ model: 'continuous', min: 15, max: 30, step: 0.5 })
    expect(m.parse('21.5', '/p')).toBe(21.5)
    expect(m.parse(15, '/p')).toBe(15)
    expect(m.parse('30', '/p')).toBe(30)
    expect(refusal(m, '21.3')).toBe('SMAP_STATE_INVALID: /p cannot take the state "21.3": it takes a number from 15 to 30 in steps of 0.5 from 15')
    for (const s of ['30.5', '14.5', 'warm', '', '1e400', 'NaN', 'Infinity', '0x10']) expect(refusal(m, s)).toMatch(/^SMAP_STATE_INVALID: /)
    // a grid of tenths takes what floating point makes of them
    expect(model({ model: 'continuous', min: 0, max: 1, step: 0.1 }).parse(0.1 + 0.2, '/p')).toBeCloseTo(0.3)
    expect(model({ model: 'continuous', min: -5, max: 5 }).parse('-2.25', '/p')).toBe(-2.25)
    expect(m.toJSON()).toEqual({ Model: 'continuous', MinValue: 15, MaxValue: 30, StepSize: 0.5 })
  })

  it('continuousInteger: a whole number in range', () => {
    const m = model({ model: 'continuousInteger', min: 0, max: 100 })
    expect(m.parse('40', '/p')).toBe(40)
    expect(refusal(m, '40.5')).toBe('SMAP_STATE_INVALID: /p cannot take the state "40.5": it takes a whole number from 0 to 100')
    expect(refusal(m, 101)).toMatch(/^SMAP_STATE_INVALID: /)
    expect(m.toJSON()).toEqual({ Model: 'continuousInteger', MinValue: 0, MaxValue: 100 })
  })

  it('refuses a spec that cannot work, saying what to fix', () => {
    const err = (spec: unknown): string => {
      try {
        new ActuatorModel(spec as ActuatorSpec, '/hvac/mode')
      } catch (e) {
        return `${(e as { code: string }).code}: ${(e as Error).message}`
      }
      return 'accepted'
    }
    expect(err({ model: 'dimmer' })).toBe('SMAP_ACTUATOR_INVALID: actuator /hvac/mode: unknown model "dimmer": expected binary, discrete, continuous or continuousInteger')
    expect(err({ model: 'discrete' })).toBe('SMAP_ACTUATOR_INVALID: actuator /hvac/mode: a discrete model needs `values`, a list of non-empty strings, e.g. ["heat", "cool", "off"]')
    expect(err({ model: 'discrete', values: ['a', 'a'] })).toBe('SMAP_ACTUATOR_INVALID: actuator /hvac/mode: its values repeat: ["a","a"]')
    expect(err({ model: 'continuous', min: 0 })).toBe('SMAP_ACTUATOR_INVALID: actuator /hvac/mode: a continuous model needs finite numbers `min` and `max`, got 0 and undefined')
    expect(err({ model: 'continuous', min: 5, max: 1 })).toBe('SMAP_ACTUATOR_INVALID: actuator /hvac/mode: min (5) is above max (1)')
    expect(err({ model: 'continuous', min: 0, max: 1, step: 0 })).toBe('SMAP_ACTUATOR_INVALID: actuator /hvac/mode: step must be a number above 0, got 0')
    expect(err({ model: 'continuousInteger', min: 0.5, max: 2 })).toMatch(/needs whole numbers for min and max/)
    expect(err({ model: 'continuousInteger', min: 0, max: 2, step: 1 })).toMatch(/steps by 1: leave out `step`/)
  })
})
