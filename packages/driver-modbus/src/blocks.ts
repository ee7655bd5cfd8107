import { MAX_BITS, MAX_REGISTERS } from './link.js'
import type { MapPoint, ModbusFunction } from './map.js'

/** One read request: a run of registers (or bits) of one unit's table, and the points in it. */
export interface Block {
  unitId: number
  function: ModbusFunction
  address: number
  count: number
  points: MapPoint[]
}

/** How far blocks may stretch. */
export interface BlockLimits {
  /** Most unmapped registers (or bits) a block may read across to join two points. */
  maxGap: number
  /** Most registers one read may ask for (at most 125); bits go up to 2000. */
  maxRegisters: number
}

/**
 * Merges points of the same unit and table into as few reads as the limits
 * allow: points are taken in address order, and one joins the block before it
 * if the gap between them is at most `maxGap` and the block stays within the
 * Modbus limit.
 */
export function planBlocks(points: readonly MapPoint[], defaultUnit: number, limits: BlockLimits): Block[] {
  const sorted = [...points].sort((a, b) => (a.unitId ?? defaultUnit) - (b.unitId ?? defaultUnit) || a.function.localeCompare(b.function) || a.address - b.address)
  const blocks: Block[] = []
  let current: Block | undefined
  for (const p of sorted) {
    const unitId = p.unitId ?? defaultUnit
    const most = p.function === 'coil' || p.function === 'discrete' ? MAX_BITS : Math.min(limits.maxRegisters, MAX_REGISTERS)
    const end = p.address + p.size
    if (current && current.unitId === unitId && current.function === p.function && p.address - (current.address + current.count) <= limits.maxGap && end - current.address <= most) {
      current.count = Math.max(current.count, end - current.address)
      current.points.push(p)
    } else {
      current = { unitId, function: p.function, address: p.address, count: p.size, points: [p] }
      blocks.push(current)
    }
  }
  return blocks
}
