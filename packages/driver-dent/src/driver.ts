import { ModbusError, ModbusLink } from '@smap/driver-modbus/link'
import { defineDriver, type DriverContext, type SmapError } from '@smap/sdk'
import { DentError } from './errors.js'
import { DEFAULT_PORTS, powerScout18OptionsSchema, powerScout3OptionsSchema, type PowerScout18Options, type PowerScout3Options } from './options.js'
import { BLOCK_ADDRESS, BLOCK_LENGTH, checkScalar, decodeBlock, ELEMENTS, PHASES, STREAMS, type Element } from './registers.js'

/** The longest a failing element waits between tries (unless Rate is longer). */
const MAX_BACKOFF_S = 300

/** What differs between PowerScout models. */
interface Model {
  model: string
  /** `Extra/Driver` metadata: the original's class name, so existing sites keep it. */
  driverTag: string
  /** Where the data scalar is: read `count` registers at `address`, take the one at `index`. */
  scalar: { address: number; count: number; index: number }
}

type AnyOptions = PowerScout18Options | PowerScout3Options

const PS18: Model = { model: 'PowerScout 18', driverTag: 'smap.drivers.dent.Dent18', scalar: { address: 4300, count: 3, index: 1 } }
const PS3: Model = { model: 'PowerScout 3', driverTag: 'smap.drivers.dent.Dent3', scalar: { address: 4601, count: 1, index: 0 } }
const PS3037: Model = { model: 'PowerScout 3037', driverTag: '@smap/driver-dent#PowerScout3037', scalar: { address: 4601, count: 1, index: 0 } }

interface ElementState {
  element: Element
  /** `elt-A` */
  label: string
  unit: number
  paths: string[]
  scalar: number | undefined
  failures: number
  nextTry: number
  error: string | undefined
}

const elementsOf = (o: AnyOptions): Element[] => ('elements' in o ? o.elements : ['A'])

/** `/elt-A/ABC/true_power` etc.: the original driver's paths, which are also the keys. */
function streamPath(element: Element, name: string): string {
  return `/elt-${element}/${name}`
}

function setup(model: Model, ctx: DriverContext, o: AnyOptions): void {
  ctx.setMetadata('/', {
    'Extra/Driver': model.driverTag,
    'Extra/SystemType': 'Electrical',
    'Instrument/Manufacturer': 'Dent Industries',
    'Instrument/Model': model.model,
    'Instrument/SamplingPeriod': String(o.Rate),
  })
  for (const element of elementsOf(o)) {
    ctx.addCollection(`/elt-${element}`)
    ctx.setMetadata(`/elt-${element}`, { 'Extra/DentElement': `elt-${element}` })
    for (const phase of PHASES) {
      ctx.addCollection(`/elt-${element}/${phase}`)
      ctx.setMetadata(`/elt-${element}/${phase}`, { 'Extra/Phase': phase })
    }
    for (const s of STREAMS) {
      const path = streamPath(element, s.name)
      ctx.addTimeseries(path, { key: path, unit: s.unit, readingType: 'double', description: `element ${element} ${s.description}` })
    }
  }
}

function start(model: Model, ctx: DriverContext, o: AnyOptions): void {
  const port = o.Port ?? DEFAULT_PORTS[o.Transport]
  const link = new ModbusLink({ host: o.Address, port, transport: o.Transport, timeoutMs: o.Timeout * 1000, spacingMs: o.Limit * 1000 })
  ctx.signal.addEventListener('abort', () => link.close(), { once: true })

  const states: ElementState[] = elementsOf(o).map((element) => ({
    element,
    label: `elt-${element}`,
    unit: o.ModbusBase + ELEMENTS.indexOf(element),
    paths: STREAMS.map((s) => streamPath(element, s.name)),
    scalar: undefined,
    failures: 0,
    nextTry: -Infinity,
    error: undefined,
  }))
  let reported: string | undefined
  let wasHealthy: boolean | undefined
  /** Element changes since the last health report, logged unless the host logs the health change itself. */
  const changes: Array<{ level: 'warn' | 'info'; line: string }> = []

  const readScalar = async (unit: number, signal: AbortSignal): Promise<number> => {
    const { address, count, index } = model.scalar
    const regs = await link.readHoldingRegisters(unit, address, count, signal)
    const value = regs[index] as number
    try {
      return checkScalar(value)
    } catch (err) {
      throw new DentError('SMAP_DENT_SCALAR', `unit ${unit}, register ${address + index}: ${(err as Error).message}`, { cause: err })
    }
  }

  const fail = (st: ElementState, err: SmapError, pollStart: number): void => {
    st.failures++
    // the meter may have been reconfigured or replaced while it was away
    st.scalar = undefined
    const delay = Math.min(o.Rate * 2 ** (st.failures - 1), Math.max(o.Rate, MAX_BACKOFF_S))
    st.nextTry = pollStart + delay * 1000
    if (st.error === undefined) changes.push({ level: 'warn', line: `${st.label} (unit ${st.unit}) at ${link.where}: ${err.message}; retrying with backoff` })
    st.error = err.message
  }

  const succeed = (st: ElementState): void => {
    if (st.error !== undefined) changes.push({ level: 'info', line: `${st.label} (unit ${st.unit}) answers again after ${st.failures} failed ${st.failures === 1 ? 'try' : 'tries'}` })
    st.failures = 0
    st.nextTry = -Infinity
    st.error = undefined
  }

  const nextTry = (s: ElementState): string => {
    const seconds = Math.round((s.nextTry - ctx.now()) / 1000)
    return seconds > 0 ? `next in ${seconds} s` : 'next at the next poll'
  }

  const reportHealth = (): void => {
    const failing = states.filter((s) => s.error !== undefined)
    const health =
      failing.length === 0
        ? { healthy: true }
        : {
            healthy: false,
            message: `meter at ${link.where}: ${failing
              .map((s) => `${s.label} (unit ${s.unit}): ${s.error}; ${s.failures} failed ${s.failures === 1 ? 'try' : 'tries'} in a row, ${nextTry(s)}`)
              .join('; ')}`,
            stale: failing.flatMap((s) => s.paths),
          }
    // the host logs a change between healthy and unhealthy with our message; log
    // an element failing or recovering while the meter as a whole stays unhealthy
    if (wasHealthy === false && !health.healthy) for (const c of changes) ctx.logger[c.level](c.line)
    changes.length = 0
    wasHealthy = health.healthy
    const text = JSON.stringify(health)
    if (text !== reported) ctx.setHealth(health)
    reported = text
  }

  const poll = async (signal: AbortSignal): Promise<void> => {
    const pollStart = ctx.now()
    // a gateway that cannot be reached fails every element: try it once per poll
    let unreachable: ModbusError | undefined
    for (const st of states) {
      // polls start a little late on a busy host: half a period of slack keeps the schedule
      if (st.nextTry - pollStart > (o.Rate * 1000) / 2) continue
      if (unreachable) {
        fail(st, unreachable, pollStart)
        continue
      }
      try {
        st.scalar ??= await readScalar(st.unit, signal)
        const regs = await link.readHoldingRegisters(st.unit, BLOCK_ADDRESS, BLOCK_LENGTH, signal)
        const values = decodeBlock(regs, st.scalar)
        const time = ctx.now()
        for (const [name, value] of values) ctx.add(streamPath(st.element, name), time, value)
        succeed(st)
      } catch (err) {
        if (signal.aborted) return
        if (!(err instanceof DentError || err instanceof ModbusError)) throw err
        if (err instanceof ModbusError && err.code === 'SMAP_MODBUS_CONNECT') unreachable = err
        fail(st, err, pollStart)
      }
    }
    reportHealth()
  }

  // two requests per element at most, each spaced and bounded; the rest is slack
  const worst = states.length * 2 * (o.Limit + o.Timeout) + 10
  ctx.periodic(poll, o.Rate, { timeout: worst })
}

/**
 * Dent PowerScout 18: six elements A–F, each its own Modbus unit
 * (`ModbusBase` + 0…5); the data scalar is the second of the three registers
 * at 4300. The classic name `smap.drivers.dent.Dent18` resolves here.
 * @example
 * // conf.ini
 * // [/building/main]
 * // type = @smap/driver-dent#PowerScout18
 * // Address = 10.0.0.7
 */
export const PowerScout18 = defineDriver({
  name: 'dent-powerscout18',
  description: 'Dent PowerScout 18 (elements A–F) over Modbus/TCP or RTU through a serial gateway',
  options: powerScout18OptionsSchema,
  setup: (ctx, o) => setup(PS18, ctx, o),
  start: (ctx, o) => start(PS18, ctx, o),
})

/**
 * Dent PowerScout 3: one element (A) at unit `ModbusBase`; the data scalar is
 * register 4601 (manual 44602). The classic name `smap.drivers.dent.Dent3` resolves here.
 */
export const PowerScout3 = defineDriver({
  name: 'dent-powerscout3',
  description: 'Dent PowerScout 3 over Modbus/TCP or RTU through a serial gateway',
  options: powerScout3OptionsSchema,
  setup: (ctx, o) => setup(PS3, ctx, o),
  start: (ctx, o) => start(PS3, ctx, o),
})

/** Dent PowerScout 3037: read like the PowerScout 3 (one element, data scalar at 4601). */
export const PowerScout3037 = defineDriver({
  name: 'dent-powerscout3037',
  description: 'Dent PowerScout 3037 over Modbus/TCP or RTU through a serial gateway',
  options: powerScout3OptionsSchema,
  setup: (ctx, o) => setup(PS3037, ctx, o),
  start: (ctx, o) => start(PS3037, ctx, o),
})
