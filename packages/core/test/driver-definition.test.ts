import { describe, expect, it } from 'vitest'
import { defineDriver, z } from '@smap/sdk'
import { parseDriverDefinition, parseDriverOptions } from '../src/drivers/definition.js'

describe('parseDriverDefinition', () => {
  it('is checked when loaded, naming what is wrong', () => {
    expect(() => parseDriverDefinition({ name: 'x', start() {} }, 'driver "pkg"')).toThrow('driver "pkg" is not a valid driver definition: setup must be a function')
    expect(() => parseDriverDefinition({ name: '', setup() {}, options: {} }, 'driver "pkg"')).toThrow(
      'driver "pkg" is not a valid driver definition: name must be a non-empty string; options must be a zod schema (build it with z from @smap/sdk)',
    )
    expect(() => parseDriverDefinition(undefined, 'driver "pkg"')).toThrow('driver "pkg" is not a driver: expected an object made with defineDriver() from @smap/sdk, got undefined')
  })
})

describe('parseDriverOptions', () => {
  const def = defineDriver({
    name: 'meter',
    options: z.object({ Address: z.string(), Port: z.coerce.number().int().default(4660) }),
    setup() {},
  })

  it('coerces config strings and applies defaults', () => {
    expect(parseDriverOptions(def, { Address: '10.0.0.7' })).toEqual({ ok: true, options: { Address: '10.0.0.7', Port: 4660 } })
  })

  it("lists each problem with its key and zod's message", () => {
    expect(parseDriverOptions(def, { Port: 'x', Adress: '1' })).toEqual({
      ok: false,
      problems: [
        { key: 'Adress', message: 'unknown option for driver meter; it accepts Address, Port' },
        { key: 'Address', message: 'Invalid input: expected string, received undefined' },
        { key: 'Port', message: 'Invalid input: expected number, received NaN, got "x"' },
      ],
    })
  })
})

