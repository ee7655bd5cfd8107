import { readFileSync } from 'node:fs'
import { z } from '@smap/sdk'
import { MAX_REGISTERS } from './link.js'
import { findOverlaps, parseRegisterMap, type MapPoint } from './map.js'

/** More problems than this in one map are summed up, not listed. */
const MAX_LISTED = 20

function readMap(file: string, ctx: z.core.$RefinementCtx<string>): { file: string; points: MapPoint[] } {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String(err)
    ctx.addIssue({ code: 'custom', message: `cannot read the register map ${file}: ${why} (a relative path is taken from the config file's folder)` })
    return z.NEVER
  }
  const { points, problems } = parseRegisterMap(text, file)
  if (problems.length === 0) return { file, points }
  for (const message of problems.slice(0, MAX_LISTED)) ctx.addIssue({ code: 'custom', message })
  if (problems.length > MAX_LISTED) ctx.addIssue({ code: 'custom', message: `${file}: ${problems.length - MAX_LISTED} more problems` })
  return z.NEVER
}

/** Options of `ModbusDriver`: where the device is, how to reach it, and its register map. */
export const modbusOptionsSchema = z
  .object({
    Address: z
      .string({ error: (issue) => (issue.input === undefined ? 'required: the host name or IP address of the device or of its Modbus gateway' : undefined) })
      .trim()
      .min(1, { error: 'expected the host name or IP address of the device or of its Modbus gateway' })
      .describe('Host name or IP address of the device, or of its serial gateway.'),
    Port: z.coerce.number().int().min(1).max(65535).optional().describe('TCP port; default 4660 for rtu-over-tcp, 502 for modbus-tcp.'),
    Transport: z.enum(['rtu-over-tcp', 'modbus-tcp'], { error: 'expected rtu-over-tcp (RTU frames through a serial gateway) or modbus-tcp' }).default('rtu-over-tcp').describe('`rtu-over-tcp`: Modbus RTU frames over a raw TCP socket (serial gateways); `modbus-tcp`: Modbus/TCP.'),
    UnitId: z.coerce.number().int().min(0).max(255).default(1).describe('Modbus unit id of the device; a map row may name its own (`unitid`).'),
    Rate: z.coerce.number().positive().default(20).describe('Seconds between reads of the device.'),
    Limit: z.coerce.number().min(0).default(1.5).describe('Least seconds between two Modbus requests.'),
    Timeout: z.coerce.number().positive().default(2).describe('Seconds to wait for one request (connecting included) before giving up.'),
    MaxGap: z.coerce.number().int().min(0).max(MAX_REGISTERS).default(8).describe('Most unmapped registers (or bits) one read spans to join two points; 0 reads only runs of adjacent points.'),
    MaxBlock: z.coerce.number().int().min(4, { error: 'expected at least 4 (a float64 takes 4 registers)' }).max(MAX_REGISTERS).default(MAX_REGISTERS).describe("Most registers one read asks for (some devices take fewer than Modbus's 125)."),
    RegisterMap: z
      .string({ error: (issue) => (issue.input === undefined ? 'required: the register map, a CSV file such as ahu.csv beside the config' : undefined) })
      .trim()
      .min(1, { error: 'expected the path of a CSV register map, such as ahu.csv' })
      .transform(readMap)
      .describe('The CSV register map: one row per point (see the README).'),
  })
  .superRefine((o, ctx) => {
    for (const message of findOverlaps(o.RegisterMap.points, o.UnitId)) ctx.addIssue({ code: 'custom', path: ['RegisterMap'], message })
  })

export type ModbusOptions = z.output<typeof modbusOptionsSchema>
