import { z } from '@smap/sdk'
import { ELEMENTS, type Element } from './registers.js'

/** The default `Port` for each `Transport`: 4660 (the original driver's, a serial gateway) or 502. */
export const DEFAULT_PORTS = { 'rtu-over-tcp': 4660, 'modbus-tcp': 502 } as const

const MAX_UNIT = 247

const common = {
  Address: z
    .string({ error: (issue) => (issue.input === undefined ? 'required: the host name or IP address of the meter or of its Modbus gateway' : undefined) })
    .trim()
    .min(1, { error: 'expected the host name or IP address of the meter or of its Modbus gateway' })
    .describe('Host name or IP address of the meter (Modbus/TCP) or of its serial gateway.'),
  Port: z.coerce.number().int().min(1).max(65535).optional().describe('TCP port; default 4660 for rtu-over-tcp, 502 for modbus-tcp.'),
  ModbusBase: z.coerce.number().int().min(1).max(MAX_UNIT).default(1).describe('Modbus unit id of element A; element B is ModbusBase + 1, and so on.'),
  Rate: z.coerce.number().positive().default(20).describe('Seconds between readings of the meter.'),
  Limit: z.coerce.number().min(0).default(1.5).describe('Least seconds between two Modbus requests.'),
  Timeout: z.coerce.number().positive().default(2).describe('Seconds to wait for one request (connecting included) before giving up.'),
  Transport: z.enum(['rtu-over-tcp', 'modbus-tcp'], { error: 'expected rtu-over-tcp (RTU frames through a serial gateway) or modbus-tcp' }).default('rtu-over-tcp').describe('`rtu-over-tcp`: Modbus RTU frames over a raw TCP socket (serial gateways); `modbus-tcp`: Modbus/TCP.'),
}

/** Parses `A,B,C` (commas or spaces, any case) into elements in A–F order. */
function parseElements(value: string, ctx: z.core.$RefinementCtx<string>): Element[] {
  const parts = value.split(/[\s,]+/).filter((p) => p !== '').map((p) => p.toUpperCase())
  if (parts.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'expected a list of elements such as A,B,C (letters A to F)' })
    return z.NEVER
  }
  const bad = parts.filter((p) => !(ELEMENTS as readonly string[]).includes(p))
  if (bad.length > 0) {
    ctx.addIssue({ code: 'custom', message: `unknown element${bad.length > 1 ? 's' : ''} ${bad.join(', ')}: a PowerScout 18 has elements A to F (write them like A,B,C)` })
    return z.NEVER
  }
  const twice = parts.filter((p, i) => parts.indexOf(p) !== i)
  if (twice.length > 0) {
    ctx.addIssue({ code: 'custom', message: `element ${twice[0]} is listed twice` })
    return z.NEVER
  }
  return ELEMENTS.filter((e) => parts.includes(e))
}

/** Options of `PowerScout18`. */
export const powerScout18OptionsSchema = z
  .object({
    ...common,
    elements: z.string().default(ELEMENTS.join(',')).transform(parseElements).describe('Which elements to read; default all six.'),
  })
  .superRefine((o, ctx) => {
    const last = Math.max(...o.elements.map((e) => ELEMENTS.indexOf(e)))
    if (o.ModbusBase + last > MAX_UNIT) {
      ctx.addIssue({ code: 'custom', path: ['ModbusBase'], message: `element ${ELEMENTS[last]} would be unit ${o.ModbusBase + last}; Modbus unit ids go up to ${MAX_UNIT}` })
    }
  })

/** Options of `PowerScout3` and `PowerScout3037` (one element, unit `ModbusBase`). */
export const powerScout3OptionsSchema = z.object(common)

export type PowerScout18Options = z.output<typeof powerScout18OptionsSchema>
export type PowerScout3Options = z.output<typeof powerScout3OptionsSchema>
/** How Modbus requests travel to the meter. */
export type Transport = PowerScout3Options['Transport']
