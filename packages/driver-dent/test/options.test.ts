import { createHarness } from '@smap/testing'
import { describe, expect, it } from 'vitest'
import { PowerScout18, PowerScout3 } from '../src/index.js'

describe('options', () => {
  it('keeps the original driver’s defaults and adds Transport rtu-over-tcp', async () => {
    const h = await createHarness(PowerScout18, { Address: '10.0.0.7' })
    expect(h.options).toEqual({
      Address: '10.0.0.7',
      ModbusBase: 1,
      Rate: 20,
      Limit: 1.5,
      Timeout: 2,
      Transport: 'rtu-over-tcp',
      elements: ['A', 'B', 'C', 'D', 'E', 'F'],
    })
    expect(h.options.Port).toBeUndefined()
  })

  it('reads config strings: numbers, a transport and a list of elements in any case and order', async () => {
    const h = await createHarness(PowerScout18, { Address: ' meter.local ', Port: '502', ModbusBase: '10', Rate: '5', Limit: '0', Timeout: '0.5', Transport: 'modbus-tcp', elements: 'f, a c' })
    expect(h.options).toEqual({ Address: 'meter.local', Port: 502, ModbusBase: 10, Rate: 5, Limit: 0, Timeout: 0.5, Transport: 'modbus-tcp', elements: ['A', 'C', 'F'] })
  })

  it('refuses a config without an Address', async () => {
    await expect(createHarness(PowerScout18, {})).rejects.toThrowErrorMatchingInlineSnapshot(
      `[SmapError: invalid options for driver dent-powerscout18: Address: required: the host name or IP address of the meter or of its Modbus gateway]`,
    )
  })

  it('names the option, the problem and the value for each bad option', async () => {
    await expect(createHarness(PowerScout18, { Address: '10.0.0.7', elements: 'A,G' })).rejects.toThrow(
      'elements: unknown element G: a PowerScout 18 has elements A to F (write them like A,B,C), got "A,G"',
    )
    await expect(createHarness(PowerScout18, { Address: '10.0.0.7', elements: 'A,B,a' })).rejects.toThrow('elements: element A is listed twice, got "A,B,a"')
    await expect(createHarness(PowerScout18, { Address: '10.0.0.7', elements: ' , ' })).rejects.toThrow('elements: expected a list of elements such as A,B,C (letters A to F), got " , "')
    await expect(createHarness(PowerScout18, { Address: '10.0.0.7', Transport: 'tcp' })).rejects.toThrow(
      'Transport: expected rtu-over-tcp (RTU frames through a serial gateway) or modbus-tcp, got "tcp"',
    )
    await expect(createHarness(PowerScout18, { Address: '10.0.0.7', Rate: 'fast' })).rejects.toThrow('Rate: Invalid input: expected number, received NaN, got "fast"')
    await expect(createHarness(PowerScout18, { Address: '10.0.0.7', Port: '70000' })).rejects.toThrow('Port: Too big: expected number to be <=65535, got "70000"')
    await expect(createHarness(PowerScout18, { Address: '10.0.0.7', Limit: '-1' })).rejects.toThrow('Limit: Too small: expected number to be >=0, got "-1"')
    await expect(createHarness(PowerScout18, { Address: '10.0.0.7', ModbusBase: '245' })).rejects.toThrow(
      'ModbusBase: element F would be unit 250; Modbus unit ids go up to 247, got "245"',
    )
    await expect(createHarness(PowerScout18, { Address: '10.0.0.7', ModbusBase: '245', elements: 'A,B,C' })).resolves.toBeDefined()
  })

  it('takes no elements option for the one-element PowerScout 3', async () => {
    await expect(createHarness(PowerScout3, { Address: '10.0.0.7', elements: 'A' })).rejects.toThrow(
      'elements: unknown option for driver dent-powerscout3; it accepts Address, Port, ModbusBase, Rate, Limit, Timeout, Transport',
    )
  })
})
