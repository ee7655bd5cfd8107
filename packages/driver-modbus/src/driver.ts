import { defineDriver, type ActuatorHandle, type DriverContext, type DriverHealth } from '@smap/sdk'
import { decodeValue, encodeRaw, rawFor, type Encoding } from './codec.js'
import { planBlocks, type Block } from './blocks.js'
import { ModbusError } from './errors.js'
import { DEFAULT_PORTS, ModbusLink } from './link.js'
import type { MapPoint } from './map.js'
import { modbusOptionsSchema, type ModbusOptions } from './options.js'

/** What setup builds and start uses: the link, and the handles of the actuator points. */
interface Runtime {
  link: ModbusLink
  actuators: Map<string, ActuatorHandle>
}

const runtimes = new WeakMap<DriverContext, Runtime>()

/** Whether a point's values are whole numbers: bits, and integer registers read as they are. */
function isWhole(p: MapPoint): boolean {
  const e = p.encoding
  return e === undefined || ((e.type === 'int16' || e.type === 'uint16' || e.type === 'int32' || e.type === 'uint32') && e.scale === 1 && e.offset === 0)
}

/** The value of point `p` in a block's data (registers, or bits as booleans). */
function valueIn(block: Block, data: readonly number[] | readonly boolean[], p: MapPoint): number {
  const at = p.address - block.address
  if (p.encoding === undefined) return data[at] === true ? 1 : 0
  return decodeValue((data as readonly number[]).slice(at, at + p.size), p.encoding)
}

function readBlock(link: ModbusLink, b: Pick<Block, 'unitId' | 'function' | 'address' | 'count'>, signal: AbortSignal): Promise<number[] | boolean[]> {
  if (b.function === 'holding') return link.readHoldingRegisters(b.unitId, b.address, b.count, signal)
  if (b.function === 'input') return link.readInputRegisters(b.unitId, b.address, b.count, signal)
  if (b.function === 'coil') return link.readCoils(b.unitId, b.address, b.count, signal)
  return link.readDiscreteInputs(b.unitId, b.address, b.count, signal)
}

/** Writes `value` (engineering units, or 0/1 for a coil) to a writable point, then reads back the state it reached. */
async function writePoint(ctx: DriverContext, link: ModbusLink, o: ModbusOptions, p: MapPoint, value: number, signal: AbortSignal): Promise<number | undefined> {
  const unitId = p.unitId ?? o.UnitId
  if (p.function === 'coil') await link.writeCoil(unitId, p.address, value === 1, signal)
  else {
    const e = p.encoding as Encoding
    const raw = rawFor(value, e)
    if (!raw.ok) throw new ModbusError('SMAP_MODBUS_RANGE', `${p.path} cannot take ${value}: ${raw.why}`)
    const words = encodeRaw(raw.raw, e.type, e.order)
    if (words.length === 1) await link.writeRegister(unitId, p.address, words[0] as number, signal)
    else await link.writeRegisters(unitId, p.address, words, signal)
  }
  try {
    const block = { unitId, function: p.function, address: p.address, count: p.size, points: [p] }
    return valueIn(block, await readBlock(link, block, signal), p)
  } catch (err) {
    if (!(err instanceof ModbusError) || signal.aborted) throw err
    // the write was taken; only the read-back failed: the host takes the written state as reached
    ctx.logger.warn(`${p.path} was written, but reading it back failed: ${err.message}`)
    return undefined
  }
}

function setup(ctx: DriverContext, o: ModbusOptions): void {
  const port = o.Port ?? DEFAULT_PORTS[o.Transport]
  const link = new ModbusLink({ host: o.Address, port, transport: o.Transport, timeoutMs: o.Timeout * 1000, spacingMs: o.Limit * 1000 })
  const runtime: Runtime = { link, actuators: new Map() }
  runtimes.set(ctx, runtime)
  ctx.setMetadata('/', { 'Extra/Driver': '@smap/driver-modbus', 'Instrument/SamplingPeriod': String(o.Rate) })
  const collections = new Set<string>()
  // a write may wait for the reads of a poll in progress, then takes its request and the read back
  const blocks = planBlocks(o.RegisterMap.points, o.UnitId, { maxGap: o.MaxGap, maxRegisters: o.MaxBlock }).length
  const timeout = (blocks + 2) * (o.Limit + o.Timeout) + 1
  for (const p of o.RegisterMap.points) {
    const parts = p.path.split('/').slice(1, -1)
    for (let i = 1; i <= parts.length; i++) {
      const c = `/${parts.slice(0, i).join('/')}`
      if (!collections.has(c)) ctx.addCollection(c)
      collections.add(c)
    }
    const description = p.description ?? `${p.function} ${p.address}${p.encoding ? ` (${p.encoding.type})` : ''}`
    if (p.actuator) {
      const handle = ctx.addActuator(p.path, {
        unit: p.unit,
        ...p.actuator,
        description,
        timeout,
        write: (value, { signal }) => writePoint(ctx, link, o, p, value as number, signal),
      })
      runtime.actuators.set(p.path, handle)
    } else {
      ctx.addTimeseries(p.path, { unit: p.unit, readingType: isWhole(p) ? 'long' : 'double', description })
    }
  }
}

function start(ctx: DriverContext, o: ModbusOptions): void {
  const runtime = runtimes.get(ctx)
  if (!runtime) throw new Error('@smap/driver-modbus: start ran before setup')
  const { link, actuators } = runtime
  ctx.signal.addEventListener('abort', () => link.close(), { once: true })
  const blocks = planBlocks(o.RegisterMap.points, o.UnitId, { maxGap: o.MaxGap, maxRegisters: o.MaxBlock })
  let reported: string | undefined

  const poll = async (signal: AbortSignal): Promise<void> => {
    const failed: Array<{ block: Block; error: ModbusError }> = []
    // a device that cannot be reached fails every block: try it once per poll
    let unreachable: ModbusError | undefined
    for (const block of blocks) {
      if (unreachable) {
        failed.push({ block, error: unreachable })
        continue
      }
      let data: number[] | boolean[]
      try {
        data = await readBlock(link, block, signal)
      } catch (err) {
        if (signal.aborted) return
        if (!(err instanceof ModbusError)) throw err
        if (err.code === 'SMAP_MODBUS_CONNECT') unreachable = err
        failed.push({ block, error: err })
        continue
      }
      const time = ctx.now()
      for (const p of block.points) {
        const value = valueIn(block, data, p)
        const handle = actuators.get(p.path)
        if (handle) handle.report(value)
        else ctx.add(p.path, time, value)
      }
    }
    const health: DriverHealth =
      failed.length === 0
        ? { healthy: true }
        : {
            healthy: false,
            message: `device at ${link.where}: ${failed.length} of ${blocks.length} reads failed: ${[...new Set(failed.map((f) => f.error.message))].join('; ')}`,
            stale: failed.flatMap((f) => f.block.points.map((p) => p.path)),
          }
    const text = JSON.stringify(health)
    if (text !== reported) ctx.setHealth(health)
    reported = text
  }

  // every block spaced and bounded, a write or two between them, and some slack
  ctx.periodic(poll, o.Rate, { timeout: (blocks.length + 4) * (o.Limit + o.Timeout) + 10 })
}

/**
 * Any Modbus device, described by a register map (a CSV file named by
 * `RegisterMap`): each row a point read on every poll, adjacent points read
 * together; a writable coil is a binary actuator, a writable holding register
 * a continuous one.
 * @example
 * // conf.ini
 * // [/ahu1]
 * // type = @smap/driver-modbus
 * // Address = 10.0.0.20
 * // Transport = modbus-tcp
 * // RegisterMap = ahu.csv
 */
export const ModbusDriver = defineDriver({
  name: 'modbus',
  description: 'Any Modbus device over Modbus/TCP or RTU through a serial gateway, from a register map',
  options: modbusOptionsSchema,
  files: ['RegisterMap'],
  setup,
  start,
})
