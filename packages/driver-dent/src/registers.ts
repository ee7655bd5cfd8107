import { DentError } from './errors.js'

/**
 * The PowerScout register map used by this driver. Addresses are PDU
 * addresses of holding registers (function 03): the manual's 44001 is 4000.
 */

/** First register of the measurement block read for every element. */
export const BLOCK_ADDRESS = 4000
/** Registers read in one request per element (4000–4069). */
export const BLOCK_LENGTH = 70

/** The phases a PowerScout element reports, in the original driver's order. */
export const PHASES = ['A', 'B', 'C', 'ABC', 'AB', 'BC', 'AC'] as const
export type Phase = (typeof PHASES)[number]

/** The elements of a PowerScout 18 (a PowerScout 3 has only A). */
export const ELEMENTS = ['A', 'B', 'C', 'D', 'E', 'F'] as const
export type Element = (typeof ELEMENTS)[number]

/** How a quantity scales with the meter's data scalar. */
export type Scaling = 'power' | 'pf' | 'amps' | 'volts' | 'frequency'

/** How a quantity is stored: a 16-bit register, or two with the low word first. */
export type Encoding = 'u16' | 's16' | 'u32'

/** One stream of an element: where it is below the element and where its value is. */
export interface StreamSpec {
  /** Below the element, e.g. `ABC/true_power`. */
  name: string
  phase: Phase
  quantity: string
  unit: string
  description: string
  /** Offset from 4000 of the register (the low word of a 32-bit value). */
  offset: number
  encoding: Encoding
  scaling: Scaling
}

interface Quantity {
  quantity: string
  unit: string
  what: string
  encoding: Encoding
  scaling: Scaling
  /** Offset of the system (ABC) value, when the meter has one. */
  system?: number
  /** Offset of phase A's value and the step to B and C, when the meter has per-phase values. */
  phase?: [offset: number, step: number]
}

// Units and quantity names are the original driver's (smap.drivers.dent), so
// the paths, and therefore the uuids, of an existing site stay the same.
const QUANTITIES: Quantity[] = [
  { quantity: 'true_energy', unit: 'kWh', what: 'true energy', encoding: 'u32', scaling: 'power', system: 0, phase: [22, 2] },
  { quantity: 'reactive_energy', unit: 'kVARh', what: 'reactive energy', encoding: 'u32', scaling: 'power', system: 7, phase: [31, 2] },
  { quantity: 'apparent_energy', unit: 'kVAh', what: 'apparent energy', encoding: 'u32', scaling: 'power', system: 10, phase: [40, 2] },
  { quantity: 'true_power', unit: 'kW', what: 'true power', encoding: 's16', scaling: 'power', system: 2, phase: [28, 1] },
  { quantity: 'reactive_power', unit: 'kVAR', what: 'reactive power', encoding: 's16', scaling: 'power', system: 9, phase: [37, 1] },
  { quantity: 'apparent_power', unit: 'kVA', what: 'apparent power', encoding: 'u16', scaling: 'power', system: 12, phase: [46, 1] },
  { quantity: 'displacement_pf', unit: 'PF', what: 'displacement power factor', encoding: 's16', scaling: 'pf', system: 13, phase: [49, 1] },
  { quantity: 'apparent_pf', unit: 'PF', what: 'apparent power factor', encoding: 's16', scaling: 'pf', system: 14, phase: [52, 1] },
  { quantity: 'current', unit: 'A', what: 'current', encoding: 'u16', scaling: 'amps', system: 15, phase: [55, 1] },
  { quantity: 'line_frequency', unit: 'Hz', what: 'line frequency', encoding: 'u16', scaling: 'frequency', system: 21 },
  { quantity: 'phase-neutral_voltage', unit: 'V', what: 'line-to-neutral voltage', encoding: 'u16', scaling: 'volts', phase: [58, 1] },
]

const LINE_TO_LINE: Array<[Phase, number, string]> = [
  ['AB', 18, 'L1 to L2'],
  ['BC', 19, 'L2 to L3'],
  ['AC', 20, 'L1 to L3'],
]

function buildStreams(): StreamSpec[] {
  const out: StreamSpec[] = []
  for (const phase of PHASES) {
    const ll = LINE_TO_LINE.find(([p]) => p === phase)
    if (ll) {
      out.push({ name: `${phase}/volts`, phase, quantity: 'volts', unit: 'V', description: `line-to-line voltage ${ll[2]}`, offset: ll[1], encoding: 'u16', scaling: 'volts' })
      continue
    }
    for (const q of QUANTITIES) {
      let offset: number | undefined
      if (phase === 'ABC') offset = q.system
      else if (q.phase) offset = q.phase[0] + q.phase[1] * ['A', 'B', 'C'].indexOf(phase)
      if (offset === undefined) continue
      const where = phase === 'ABC' ? 'system' : `phase ${phase}`
      out.push({ name: `${phase}/${q.quantity}`, phase, quantity: q.quantity, unit: q.unit, description: `${where} ${q.what}`, offset, encoding: q.encoding, scaling: q.scaling })
    }
  }
  return out
}

/** Every stream of one element, in a fixed order (43 of them). */
export const STREAMS: readonly StreamSpec[] = buildStreams()

/** A value is `raw * mul / div`; dividing by a power of ten keeps decimals exact (12345 / 1000 is 12.345). */
interface Factor {
  mul: number
  div: number
}

const f = (mul: number, div = 1): Factor => ({ mul, div })

// PowerScout manual, "Data Scalars and Values for Registers 44001 thru 44061":
// kW/kWh, kVAR/kVARh, kVA/kVAh; power factor; amps; volts. The meter's data
// scalar register holds 0–6 (the table's last row reads "≥6").
const SCALAR_TABLE: ReadonlyArray<Record<Exclude<Scaling, 'frequency'>, Factor>> = [
  { power: f(1, 100_000), pf: f(1, 100), amps: f(1, 100), volts: f(1, 10) },
  { power: f(1, 1000), pf: f(1, 100), amps: f(1, 10), volts: f(1, 10) },
  { power: f(1, 100), pf: f(1, 100), amps: f(1, 10), volts: f(1, 10) },
  { power: f(1, 10), pf: f(1, 100), amps: f(1, 10), volts: f(1, 10) },
  { power: f(1), pf: f(1, 100), amps: f(1), volts: f(1) },
  { power: f(10), pf: f(1, 100), amps: f(1), volts: f(1) },
  { power: f(100), pf: f(1, 100), amps: f(1), volts: f(1) },
]

/** Line frequency is in hundredths of a hertz whatever the scalar (the original driver had this from Dent). */
const FREQUENCY = f(1, 100)

/** The largest data scalar a PowerScout has. */
export const MAX_SCALAR = SCALAR_TABLE.length - 1

/** The multiplier the manual gives for a scalar and a kind of quantity, e.g. 0.001 for power at scalar 1. */
export function scaleFactor(scalar: number, scaling: Scaling): number {
  const factor = scaling === 'frequency' ? FREQUENCY : factorsOf(scalar)[scaling]
  return factor.mul / factor.div
}

function factorsOf(scalar: number): Record<Exclude<Scaling, 'frequency'>, Factor> {
  const row = Number.isInteger(scalar) ? SCALAR_TABLE[scalar] : undefined
  if (!row) {
    throw new DentError('SMAP_DENT_SCALAR', `unknown data scalar ${scalar}: a PowerScout's data scalar is 0 to ${MAX_SCALAR}; check the meter's setup (ViewPoint) or that the driver matches the model`)
  }
  return row
}

/** Checks a data scalar read from a meter; throws a `DentError` naming it if the table has no row for it. */
export function checkScalar(scalar: number): number {
  factorsOf(scalar)
  return scalar
}

function raw(registers: readonly number[], offset: number, encoding: Encoding): number {
  const lo = registers[offset] as number
  if (encoding === 'u16') return lo
  if (encoding === 's16') return lo >= 0x8000 ? lo - 0x10000 : lo
  // 32-bit values are two registers, the low word first
  const hi = registers[offset + 1] as number
  return hi * 0x10000 + lo
}

/**
 * Turns one element's 70-register block (4000–4069) into the value of every
 * stream, keyed by its name below the element (`ABC/true_power`).
 * Energies are unsigned 32-bit (low word first); true and reactive power and
 * both power factors are signed 16-bit; the rest are unsigned 16-bit.
 */
export function decodeBlock(registers: readonly number[], scalar: number): Map<string, number> {
  if (registers.length !== BLOCK_LENGTH) {
    throw new DentError('SMAP_DENT_SHORT_READ', `expected ${BLOCK_LENGTH} registers from 4000, got ${registers.length}`)
  }
  for (const [i, r] of registers.entries()) {
    if (!Number.isInteger(r) || r < 0 || r > 0xffff) throw new DentError('SMAP_DENT_BAD_REPLY', `register ${BLOCK_ADDRESS + i} is not a 16-bit value: ${String(r)}`)
  }
  const factors = factorsOf(scalar)
  const values = new Map<string, number>()
  for (const s of STREAMS) {
    const factor = s.scaling === 'frequency' ? FREQUENCY : factors[s.scaling]
    values.set(s.name, (raw(registers, s.offset, s.encoding) * factor.mul) / factor.div)
  }
  return values
}
