import { describe, expect, it } from 'vitest'
import { decodeBlock, MAX_SCALAR, scaleFactor, STREAMS } from '../src/index.js'
import { elementRegisters, EXPECTED_A_SCALAR_1 } from './fixtures/registers.js'

describe('decodeBlock', () => {
  it('gives every stream of an element its value: 32-bit low word first, signed power and PF, scalar 1', () => {
    expect(Object.fromEntries(decodeBlock(elementRegisters(), 1))).toStrictEqual(EXPECTED_A_SCALAR_1)
  })

  it('scales power and energy by 10 and reads amps and volts whole at data scalar 5', () => {
    const v = decodeBlock(elementRegisters(), 5)
    expect(v.get('ABC/true_energy')).toBe(1357320)
    expect(v.get('ABC/apparent_energy')).toBe(21474836480)
    expect(v.get('ABC/true_power')).toBe(123450)
    expect(v.get('ABC/reactive_power')).toBe(-1000)
    expect(v.get('B/true_power')).toBe(-10)
    expect(v.get('ABC/current')).toBe(1234)
    expect(v.get('AB/volts')).toBe(4801)
    expect(v.get('A/phase-neutral_voltage')).toBe(2771)
    expect(v.get('ABC/displacement_pf')).toBe(0.95)
    expect(v.get('ABC/line_frequency')).toBe(59.99)
  })

  it('reads power in hundred-thousandths and amps in hundredths at data scalar 0', () => {
    const v = decodeBlock(elementRegisters(), 0)
    expect(v.get('ABC/true_energy')).toBe(1.35732)
    expect(v.get('ABC/true_power')).toBe(0.12345)
    expect(v.get('ABC/current')).toBe(12.34)
    expect(v.get('AB/volts')).toBe(480.1)
  })

  it('follows the manual’s data scalar table for every scalar', () => {
    const table = Array.from({ length: MAX_SCALAR + 1 }, (_, s) => [s, scaleFactor(s, 'power'), scaleFactor(s, 'pf'), scaleFactor(s, 'amps'), scaleFactor(s, 'volts')])
    expect(table).toEqual([
      [0, 0.00001, 0.01, 0.01, 0.1],
      [1, 0.001, 0.01, 0.1, 0.1],
      [2, 0.01, 0.01, 0.1, 0.1],
      [3, 0.1, 0.01, 0.1, 0.1],
      [4, 1, 0.01, 1, 1],
      [5, 10, 0.01, 1, 1],
      [6, 100, 0.01, 1, 1],
    ])
    expect(scaleFactor(3, 'frequency')).toBe(0.01)
  })

  it('refuses a data scalar the table does not have, with a message that says what to check', () => {
    expect(() => decodeBlock(elementRegisters(), 7)).toThrowErrorMatchingInlineSnapshot(
      `[DentError: unknown data scalar 7: a PowerScout's data scalar is 0 to 6; check the meter's setup (ViewPoint) or that the driver matches the model]`,
    )
  })

  it('refuses a block of the wrong length', () => {
    expect(() => decodeBlock(elementRegisters().slice(0, 69), 1)).toThrow('expected 70 registers from 4000, got 69')
  })

  it('lists 43 streams per element with the original driver’s names and units', () => {
    expect(STREAMS).toHaveLength(43)
    expect(STREAMS.filter((s) => s.phase === 'A').map((s) => s.quantity)).toEqual([
      'true_energy',
      'reactive_energy',
      'apparent_energy',
      'true_power',
      'reactive_power',
      'apparent_power',
      'displacement_pf',
      'apparent_pf',
      'current',
      'phase-neutral_voltage',
    ])
    expect(Object.fromEntries(STREAMS.filter((s) => s.phase === 'ABC').map((s) => [s.quantity, s.unit]))).toEqual({
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
    })
    expect(STREAMS.filter((s) => s.phase === 'AB').map((s) => [s.name, s.unit])).toEqual([['AB/volts', 'V']])
  })
})
