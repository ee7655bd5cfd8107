/** How a value is laid out in registers: its size, and the raw values it can hold. */
export interface TypeSpec {
  /** Registers it takes. */
  words: 1 | 2 | 4
  integer: boolean
  /** The range of the raw (unscaled) value. */
  min: number
  max: number
}

const F32_MAX = 3.4028234663852886e38

/** The register types a map may name. */
export const REGISTER_TYPES = {
  int16: { words: 1, integer: true, min: -0x8000, max: 0x7fff },
  uint16: { words: 1, integer: true, min: 0, max: 0xffff },
  int32: { words: 2, integer: true, min: -0x80000000, max: 0x7fffffff },
  uint32: { words: 2, integer: true, min: 0, max: 0xffffffff },
  float32: { words: 2, integer: false, min: -F32_MAX, max: F32_MAX },
  float64: { words: 4, integer: false, min: -Number.MAX_VALUE, max: Number.MAX_VALUE },
} as const satisfies Record<string, TypeSpec>

export type RegisterType = keyof typeof REGISTER_TYPES

/**
 * Where the bytes of a value sit, written as the bytes of a big-endian value
 * A B C D: `ABCD` is Modbus's own order (most significant register first,
 * high byte first), `CDAB` swaps the registers, `BADC` the bytes in each
 * register, `DCBA` both. A one-register type takes `AB` or `BA`; a float64's
 * four registers follow the same rule (`CDAB`: least significant register first).
 */
export type ByteOrder = 'AB' | 'BA' | 'ABCD' | 'CDAB' | 'BADC' | 'DCBA'

/** The orders a type of `words` registers takes; the first is its default. */
export function ordersFor(words: number): readonly ByteOrder[] {
  return words === 1 ? ['AB', 'BA'] : ['ABCD', 'CDAB', 'BADC', 'DCBA']
}

/** How one point's registers become its value: the type, the layout, and `value = raw × scale + offset`. */
export interface Encoding {
  type: RegisterType
  order: ByteOrder
  scale: number
  offset: number
}

const swapsBytes = (order: ByteOrder): boolean => order === 'BA' || order === 'BADC' || order === 'DCBA'
const swapsWords = (order: ByteOrder): boolean => order === 'CDAB' || order === 'DCBA'

/** The registers in the device's order, as the bytes of a big-endian value. */
function toBigEndian(registers: readonly number[], order: ByteOrder): Buffer {
  const words = swapsWords(order) ? [...registers].reverse() : [...registers]
  const buf = Buffer.alloc(words.length * 2)
  words.forEach((w, i) => (swapsBytes(order) ? buf.writeUInt16LE(w, i * 2) : buf.writeUInt16BE(w, i * 2)))
  return buf
}

/** The raw value the registers hold, before scale and offset. */
export function decodeRaw(registers: readonly number[], type: RegisterType, order: ByteOrder): number {
  const buf = toBigEndian(registers, order)
  switch (type) {
    case 'int16':
      return buf.readInt16BE(0)
    case 'uint16':
      return buf.readUInt16BE(0)
    case 'int32':
      return buf.readInt32BE(0)
    case 'uint32':
      return buf.readUInt32BE(0)
    case 'float32':
      return buf.readFloatBE(0)
    case 'float64':
      return buf.readDoubleBE(0)
  }
}

/** The registers, in the device's order, that hold `raw` (already a value of the type). */
export function encodeRaw(raw: number, type: RegisterType, order: ByteOrder): number[] {
  const buf = Buffer.alloc(REGISTER_TYPES[type].words * 2)
  if (type === 'int16') buf.writeInt16BE(raw, 0)
  else if (type === 'uint16') buf.writeUInt16BE(raw, 0)
  else if (type === 'int32') buf.writeInt32BE(raw, 0)
  else if (type === 'uint32') buf.writeUInt32BE(raw, 0)
  else if (type === 'float32') buf.writeFloatBE(raw, 0)
  else buf.writeDoubleBE(raw, 0)
  const words: number[] = []
  for (let i = 0; i < buf.length; i += 2) words.push(swapsBytes(order) ? buf.readUInt16LE(i) : buf.readUInt16BE(i))
  return swapsWords(order) ? words.reverse() : words
}

/** The engineering value of a point's registers: `raw × scale + offset`. */
export function decodeValue(registers: readonly number[], e: Encoding): number {
  const raw = decodeRaw(registers, e.type, e.order)
  const value = raw * e.scale + e.offset
  // 215 × 0.1 is 21.500000000000004 in binary; an integer register means 21.5
  return REGISTER_TYPES[e.type].integer && (e.scale !== 1 || e.offset !== 0) ? Number(value.toPrecision(15)) : value
}

/**
 * The raw value that stands for the engineering value `value` (the inverse
 * of scale and offset, rounded for an integer type), or why none can.
 */
export function rawFor(value: number, e: Encoding): { ok: true; raw: number } | { ok: false; why: string } {
  const spec = REGISTER_TYPES[e.type]
  let raw = (value - e.offset) / e.scale
  if (spec.integer) raw = Math.round(raw)
  if (!Number.isFinite(raw) || raw < spec.min || raw > spec.max) {
    return { ok: false, why: `${value} would be the raw value ${raw}, outside the ${spec.min} to ${spec.max} a ${e.type} holds` }
  }
  return { ok: true, raw }
}

/** The range of engineering values a type holds under a scale and offset, low end first. */
export function engineeringRange(e: Pick<Encoding, 'type' | 'scale' | 'offset'>): [number, number] {
  const spec = REGISTER_TYPES[e.type]
  const ends = [spec.min * e.scale + e.offset, spec.max * e.scale + e.offset].map((v) => Math.max(-Number.MAX_VALUE, Math.min(Number.MAX_VALUE, v)))
  return [Math.min(...(ends as [number, number])), Math.max(...(ends as [number, number]))]
}
