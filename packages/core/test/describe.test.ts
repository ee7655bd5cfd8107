import { describe, expect, it } from 'vitest'
import { defineDriver, listOption, z } from '@smap/sdk'
import { checkDriverOptions, describeDriver } from '@smap/core'
import caiso from '../../driver-caiso/src/index.js'
import { PowerScout18, PowerScout3 } from '../../driver-dent/src/index.js'
import modbus from '../../driver-modbus/src/index.js'

/** The `Key = value` lines of an INI template that are not commented out. */
function settings(ini: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of ini.split('\n')) {
    const m = /^([A-Za-z][\w/]*)\s*=\s*(.*)$/.exec(line)
    if (m && m[1] !== 'type') out[m[1] as string] = m[2] as string
  }
  return out
}

const setup = (): void => {}

describe('describeDriver', () => {
  it('shows a list option as the comma-separated string a config writes', () => {
    const d = describeDriver(caiso, { type: '@smap/driver-caiso' })
    const props = d.jsonSchema.properties as Record<string, Record<string, unknown>>
    expect(props.Files).toEqual({
      description: "Today's Outlook files to poll; empty for none.",
      type: 'string',
      format: 'comma-separated',
      'x-smap-value': { type: 'array', items: { type: 'string', enum: ['demand', 'netdemand', 'fuelsource'] } },
      examples: ['demand, netdemand'],
      default: 'demand, netdemand, fuelsource',
    })
    expect(props.Nodes).toMatchObject({ type: 'string', format: 'comma-separated', default: '' })
    expect(d.options.find((o) => o.key === 'Markets')?.form).toBe('comma-separated, any of: DAM, RTM')
  })

  it('shows a coerced number as a numeric string, with the number it must be', () => {
    const props = describeDriver(caiso, { type: '@smap/driver-caiso' }).jsonSchema.properties as Record<string, Record<string, unknown>>
    expect(props.Rate).toMatchObject({ description: 'Seconds between polls.', type: 'string', default: '300', 'x-smap-value': { type: 'number', exclusiveMinimum: 0 } })
    const pattern = new RegExp(props.Rate?.pattern as string)
    for (const ok of ['300', '0.5', ' 2 ', '1e3', '-4', '.5']) expect(pattern.test(ok), ok).toBe(true)
    for (const bad of ['five', '3s', '', '1,5']) expect(pattern.test(bad), bad).toBe(false)
    const port = describeDriver(PowerScout3, { type: '@smap/driver-dent#PowerScout3' }).options.find((o) => o.key === 'Port')
    expect(port).toMatchObject({ required: false, form: 'a whole number from 1 to 65535' })
    expect(port?.default).toBeUndefined()
    expect(new RegExp(port?.schema.pattern as string).test('4.5')).toBe(false)
  })

  it('describes every option of the official drivers', () => {
    for (const [definition, type] of [
      [caiso, '@smap/driver-caiso'],
      [PowerScout18, '@smap/driver-dent#PowerScout18'],
      [PowerScout3, '@smap/driver-dent#PowerScout3'],
      [modbus, '@smap/driver-modbus'],
    ] as const) {
      const d = describeDriver(definition, { type })
      expect(d.options.length).toBeGreaterThan(0)
      for (const o of d.options) expect(o.description, `${type} ${o.key}`).toMatch(/\S/)
      expect(d.jsonSchema).toMatchObject({ type: 'object', additionalProperties: false })
    }
    const m = describeDriver(modbus, { type: '@smap/driver-modbus' })
    expect(m.jsonSchema.required).toEqual(['Address', 'RegisterMap'])
    expect(m.options.find((o) => o.key === 'RegisterMap')?.form).toBe("a file path; a relative one is taken from the config file's folder")
  })

  it('writes an INI section that, pasted as is, gives the driver its defaults', () => {
    const d = describeDriver(caiso, { type: '@smap/driver-caiso', path: '/grid' })
    expect(d.ini).toContain('\n[/grid]\ntype = @smap/driver-caiso\n')
    expect(d.ini).toContain("\n; Today's Outlook files to poll; empty for none.\n; comma-separated, any of: demand, netdemand, fuelsource\nFiles = demand, netdemand, fuelsource\n")
    expect(d.ini).toContain('\n; Seconds between polls.\n; a number > 0\nRate = 300\n')
    expect(d.ini).toContain('\nNodes =\n')
    expect(checkDriverOptions(caiso, settings(d.ini))).toEqual(checkDriverOptions(caiso, {}))

    const dent = describeDriver(PowerScout18, { type: '@smap/driver-dent#PowerScout18' })
    expect(dent.ini).toContain('[/dent-powerscout18]\n')
    // a required option without a default is left for the author, commented out
    expect(dent.ini).toContain('\n; Host name or IP address of the meter (Modbus/TCP) or of its serial gateway.\n; required\n; Address =\n')
    expect(dent.ini).toContain('\n; TCP port; default 4660 for rtu-over-tcp, 502 for modbus-tcp.\n; a whole number from 1 to 65535\n; Port =\n')
    expect(dent.ini).toContain('\n; one of: rtu-over-tcp, modbus-tcp\nTransport = rtu-over-tcp\n')
    expect(checkDriverOptions(PowerScout18, { ...settings(dent.ini), Address: 'meter' })).toEqual(checkDriverOptions(PowerScout18, { Address: 'meter' }))
  })

  it('reads descriptions, defaults and wrappers wherever they are written', () => {
    const driver = defineDriver({
      name: 'probe',
      description: 'a probe',
      files: ['Map'],
      options: z
        .object({
          Inner: z.string().describe('described inside').default('x'),
          Outer: z.coerce.number().int().min(0).default(5).describe('described outside'),
          Tags: listOption(z.string()).describe('tags first').default(['a', 'b']),
          Split: z.preprocess((v) => String(v).split(';'), z.array(z.string())).optional().describe('split by the driver'),
          Given: z.string().prefault('as written'),
          Needed: z.string().min(1),
          Bounded: z.coerce.number().gt(0).lt(1).optional().describe('two lines\nof text'),
          Map: z.string().transform((f) => f.length).describe('a map file'),
        })
        .superRefine(() => {}),
      setup,
    })
    const d = describeDriver(driver, { type: './probe.js', path: '/p' })
    const by = Object.fromEntries(d.options.map((o) => [o.key, o]))
    expect(by.Inner).toMatchObject({ description: 'described inside', default: 'x', required: false })
    expect(by.Outer).toMatchObject({ description: 'described outside', default: '5', form: 'a whole number ≥ 0' })
    expect(by.Tags).toMatchObject({ description: 'tags first', default: 'a, b', form: 'comma-separated' })
    expect(by.Split).toMatchObject({ description: 'split by the driver', form: 'a list', required: false, schema: { type: 'string' } })
    expect(by.Given).toMatchObject({ default: 'as written', required: false })
    expect(by.Given?.description).toBeUndefined()
    expect(by.Needed).toMatchObject({ required: true, schema: { type: 'string', minLength: 1 } })
    expect(by.Bounded?.form).toBe('a number > 0 and < 1')
    expect(by.Map).toMatchObject({ required: true, form: "a file path; a relative one is taken from the config file's folder" })
    expect(d.jsonSchema).toMatchObject({ title: 'Options of the probe driver', description: 'a probe', required: ['Needed', 'Map'] })
    expect(d.ini).toMatch(/^; probe: a probe\n\[\/p\]\ntype = \.\/probe\.js\n/)
    expect(d.ini).toContain('\n; two lines\n; of text\n; a number > 0 and < 1\n; Bounded =\n')
    expect(d.ini).toContain('\n; Needed =\n')
    expect(d.ini).toContain('\n; required\n; Needed =\n')
  })

  it('says a driver takes no options, and refuses options that are not an object', () => {
    const none = describeDriver(defineDriver({ name: 'plain', setup }), { type: 'smap-driver-plain' })
    expect(none.options).toEqual([])
    expect(none.ini).toBe('[/plain]\ntype = smap-driver-plain\n')
    expect(none.jsonSchema).toMatchObject({ type: 'object', properties: {}, additionalProperties: false })
    const odd = defineDriver({ name: 'odd', options: z.string(), setup })
    expect(() => describeDriver(odd, { type: 'smap-driver-odd' })).toThrow("driver odd's options are not an object schema (z.object({...})), so a config section cannot give them key by key")
  })
})

describe('listOption', () => {
  const schema = z.object({ L: listOption(z.enum(['a', 'b'])).default(['a']) })
  it('splits at commas, drops blanks and repeats, and parses each item', () => {
    expect(schema.parse({ L: ' b, a,,b ' })).toEqual({ L: ['b', 'a'] })
    expect(schema.parse({ L: '' })).toEqual({ L: [] })
    expect(schema.parse({})).toEqual({ L: ['a'] })
    const bad = schema.safeParse({ L: 'a,c' })
    expect(bad.success).toBe(false)
    expect(bad.error?.issues[0]?.path).toEqual(['L', 1])
  })
})
