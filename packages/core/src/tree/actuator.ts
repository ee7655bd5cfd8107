import type { ActuatorObject } from '@smap/sdk'
import { smapError } from '../errors.js'

/** How an actuator point is described, as a driver declares it (`ctx.addActuator`). */
export interface ActuatorSpec {
  model: 'binary' | 'discrete' | 'continuous' | 'continuousInteger'
  /** `discrete`: the states it takes. */
  values?: readonly string[]
  /** `continuous` and `continuousInteger`: the range, and for `continuous` an optional step. */
  min?: number
  max?: number
  step?: number
}


const BINARY_STATES: [['0', 'off'], ['1', 'on']] = [['0', 'off'], ['1', 'on']]
const BINARY_WORDS: Record<string, 0 | 1> = { '0': 0, off: 0, false: 0, '1': 1, on: 1, true: 1 }

/** 0 or 1 for a binary state given as a number, a boolean or a word in any case; undefined for anything else. */
function binaryState(value: unknown): 0 | 1 | undefined {
  return typeof value === 'boolean' || typeof value === 'number' || typeof value === 'string' ? BINARY_WORDS[String(value).trim().toLowerCase()] : undefined
}

function badSpec(where: string, why: string): never {
  throw smapError('SMAP_ACTUATOR_INVALID', `actuator ${where}: ${why}`)
}

/**
 * An actuator's model, checked: what it accepts, and how it is served.
 * A spec that cannot work (no values, a range upside down, a step that does
 * not fit) is refused with what to fix.
 */
export class ActuatorModel {
  readonly spec: Readonly<ActuatorSpec>

  constructor(spec: ActuatorSpec, where: string) {
    const bad = (why: string): never => badSpec(where, why)
    const model = spec.model as string
    if (model === 'binary') this.spec = { model: 'binary' }
    else if (model === 'discrete') {
      const values = spec.values
      if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string' || v === '')) bad('a discrete model needs `values`, a list of non-empty strings, e.g. ["heat", "cool", "off"]')
      if (new Set(values).size !== values?.length) bad(`its values repeat: ${JSON.stringify(values)}`)
      this.spec = { model: 'discrete', values: [...(values as string[])] }
    } else if (model === 'continuous' || model === 'continuousInteger') {
      const { min, max, step } = spec
      if (typeof min !== 'number' || !Number.isFinite(min) || typeof max !== 'number' || !Number.isFinite(max)) bad(`a ${model} model needs finite numbers \`min\` and \`max\`, got ${String(min)} and ${String(max)}`)
      if ((min as number) > (max as number)) bad(`min (${String(min)}) is above max (${String(max)})`)
      if (model === 'continuousInteger' && (!Number.isInteger(min) || !Number.isInteger(max))) bad(`a continuousInteger model needs whole numbers for min and max, got ${String(min)} and ${String(max)}`)
      if (step !== undefined) {
        if (model === 'continuousInteger') bad('a continuousInteger model steps by 1: leave out `step`, or use the continuous model')
        if (typeof step !== 'number' || !Number.isFinite(step) || step <= 0) bad(`step must be a number above 0, got ${String(step)}`)
      }
      this.spec = { model, min, max, ...(step === undefined ? {} : { step }) }
    } else {
      badSpec(where, `unknown model ${JSON.stringify(spec.model)}: expected binary, discrete, continuous or continuousInteger`)
    }
  }

  /** What the served object carries as `Actuator`. */
  toJSON(): ActuatorObject {
    const s = this.spec
    if (s.model === 'binary') return { Model: 'binary', States: BINARY_STATES }
    if (s.model === 'discrete') return { Model: 'discrete', Values: [...(s.values as string[])] }
    if (s.model === 'continuousInteger') return { Model: 'continuousInteger', MinValue: s.min as number, MaxValue: s.max as number }
    return { Model: 'continuous', MinValue: s.min as number, MaxValue: s.max as number, ...(s.step === undefined ? {} : { StepSize: s.step }) }
  }

  /** The reading type of its stream: discrete states are kept as their index in `values`, so every archiver takes them. */
  get readingType(): 'long' | 'double' {
    return this.spec.model === 'continuous' ? 'double' : 'long'
  }

  /** The reading for a value `parse` gave. */
  toReading(value: number | string): number {
    return this.spec.model === 'discrete' ? (this.spec.values as string[]).indexOf(value as string) : (value as number)
  }

  /** The state a reading stands for: a discrete point's value, else the number. */
  stateOf(reading: number): number | string {
    return this.spec.model === 'discrete' ? ((this.spec.values as string[])[reading] ?? reading) : reading
  }

  /**
   * The reading for a state the device says it reached: more lenient than
   * `parse` (a device may clamp or round), but it must be a state of the
   * model's kind. Undefined if it is not.
   */
  reached(value: unknown): number | undefined {
    const s = this.spec
    if (s.model === 'binary') return binaryState(value)
    if (s.model === 'discrete') {
      const i = typeof value === 'string' ? (s.values as string[]).indexOf(value.trim()) : -1
      if (i >= 0) return i
      return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < (s.values as string[]).length ? value : undefined
    }
    const n = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN
    if (!Number.isFinite(n)) return undefined
    return s.model === 'continuousInteger' ? Math.round(n) : n
  }

  /** The states it accepts, in words for an error message. */
  describe(): string {
    const s = this.spec
    if (s.model === 'binary') return '0 or 1 (also off/on, false/true)'
    if (s.model === 'discrete') return `one of ${(s.values as string[]).join(', ')}`
    const range = `from ${String(s.min)} to ${String(s.max)}`
    if (s.model === 'continuousInteger') return `a whole number ${range}`
    return `a number ${range}${s.step === undefined ? '' : ` in steps of ${String(s.step)} from ${String(s.min)}`}`
  }

  /**
   * The value a requested state stands for (0/1 for binary, the value for
   * discrete, a number for the others), or an error naming what it accepts.
   */
  parse(state: unknown, path: string): number | string {
    const s = this.spec
    const refuse = (): never => {
      throw smapError('SMAP_STATE_INVALID', `${path} cannot take the state ${JSON.stringify(state)}: it takes ${this.describe()}`)
    }
    if (s.model === 'binary') return binaryState(state) ?? refuse()
    if (s.model === 'discrete') {
      const text = typeof state === 'string' || typeof state === 'number' ? String(state).trim() : undefined
      return text !== undefined && (s.values as string[]).includes(text) ? text : refuse()
    }
    const n = typeof state === 'number' ? state : typeof state === 'string' && /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/.test(state) ? Number(state) : Number.NaN
    if (!Number.isFinite(n) || n < (s.min as number) || n > (s.max as number)) return refuse()
    if (s.model === 'continuousInteger' && !Number.isInteger(n)) return refuse()
    if (s.step !== undefined) {
      const k = (n - (s.min as number)) / s.step
      // within a millionth of a step of the grid, so 0.1 + 0.2 is a step of 0.1
      if (Math.abs(k - Math.round(k)) > 1e-6) return refuse()
    }
    return n
  }
}
