import { parse } from 'csv-parse/sync'
import { engineeringRange, ordersFor, REGISTER_TYPES, type ByteOrder, type Encoding, type RegisterType } from './codec.js'

/** The four Modbus tables: holding registers (read/write), input registers, coils (read/write), discrete inputs. */
export type ModbusFunction = 'holding' | 'input' | 'coil' | 'discrete'

const FUNCTIONS: readonly ModbusFunction[] = ['holding', 'input', 'coil', 'discrete']

/** One row of a register map, checked. */
export interface MapPoint {
  /** Driver-relative path of its stream, e.g. `/supply_temp`. */
  path: string
  function: ModbusFunction
  address: number
  /** Registers (or bits) it takes. */
  size: number
  /** Its own Modbus unit id, else the section's `UnitId`. */
  unitId?: number
  /** Registers only: how they become its value. */
  encoding?: Encoding
  unit: string
  description?: string
  /** A writable point is an actuator: `binary` (a coil), or `continuous`/`continuousInteger` (a holding register). */
  actuator?: { model: 'binary' } | { model: 'continuous' | 'continuousInteger'; min: number; max: number }
  /** `file:line` of its row, for messages. */
  where: string
  line: number
}

/** The columns a map may have; `path`, `function`, `address` and `unit` are required. */
export const MAP_COLUMNS = ['path', 'function', 'address', 'type', 'order', 'scale', 'offset', 'unit', 'writable', 'min', 'max', 'description', 'unitid'] as const
type Column = (typeof MAP_COLUMNS)[number]
const REQUIRED: readonly Column[] = ['path', 'function', 'address', 'unit']

const SEGMENT = /^[A-Za-z0-9_.~:@!$'()*,;=-]+$/
const NUMBER = /^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/
const TYPES = Object.keys(REGISTER_TYPES) as RegisterType[]
const YES = ['true', 'yes', '1']
const NO = ['false', 'no', '0', '']

/** Stops checking a row: its message is already recorded. */
class RowProblem extends Error {}

/**
 * Parses the text of a CSV register map (header row first; `#` starts a
 * comment line). Returns the points and every problem found, each as
 * `file:line: ...`; a map with problems must not be used.
 */
export function parseRegisterMap(text: string, file: string): { points: MapPoint[]; problems: string[] } {
  let rows: Array<{ record: string[]; info: { lines: number } }>
  try {
    rows = parse(text, { info: true, comment: '#', comment_no_infix: true, skip_empty_lines: true, trim: true, relax_column_count: true }) as unknown as typeof rows
  } catch (err) {
    const e = err as Error & { lines?: number }
    return { points: [], problems: [`${file}${e.lines === undefined ? '' : `:${e.lines}`}: not a readable CSV file: ${e.message}`] }
  }
  const [head, ...body] = rows
  if (!head) return { points: [], problems: [`${file}: the register map is empty: it needs a header row (${MAP_COLUMNS.join(',')}) and a row for each point`] }

  const problems: string[] = []
  const columns = head.record.map((c) => c.toLowerCase())
  const headWhere = `${file}:${head.info.lines}`
  for (const c of columns) {
    if (!(MAP_COLUMNS as readonly string[]).includes(c)) problems.push(`${headWhere}: unknown column "${c}" in the header: the columns are ${MAP_COLUMNS.join(', ')}`)
  }
  const missing = REQUIRED.filter((c) => !columns.includes(c))
  if (missing.length > 0) problems.push(`${headWhere}: the header lacks ${missing.join(', ')}: a map needs at least the columns ${REQUIRED.join(', ')}`)
  const twice = columns.filter((c, i) => columns.indexOf(c) !== i)
  if (twice.length > 0) problems.push(`${headWhere}: the column ${twice[0]} appears twice in the header`)
  if (problems.length > 0) return { points: [], problems }
  if (body.length === 0) problems.push(`${headWhere}: the register map has no points: add a row for each after the header`)

  const points: MapPoint[] = []
  const lineOf = new Map<string, number>()
  for (const { record, info } of body) {
    const where = `${file}:${info.lines}`
    if (record.length !== columns.length) {
      problems.push(`${where}: ${record.length} fields, but the header has ${columns.length} (${columns.join(',')}); quote a field that holds a comma`)
      continue
    }
    const cell = (c: Column): string => record[columns.indexOf(c)] ?? ''
    try {
      const point = readRow(cell, where, info.lines, (why) => {
        problems.push(`${where}: ${why}`)
        throw new RowProblem()
      })
      const first = lineOf.get(point.path)
      if (first !== undefined) problems.push(`${where}: the path ${point.path} is already the point on line ${first}: each point needs a path of its own`)
      else {
        lineOf.set(point.path, info.lines)
        points.push(point)
      }
    } catch (err) {
      if (!(err instanceof RowProblem)) throw err
    }
  }
  // a point's path cannot also be a collection of others
  for (const p of points) {
    const below = points.find((q) => q.path.startsWith(`${p.path}/`))
    if (below) problems.push(`${below.where}: ${below.path} lies below the point ${p.path} (line ${lineOf.get(p.path)}): a point cannot hold others; rename one`)
  }
  return { points, problems }
}

function readRow(cell: (c: Column) => string, where: string, line: number, fail: (why: string) => never): MapPoint {
  const rawPath = cell('path')
  const parts = rawPath.split('/').filter((p) => p !== '')
  if (parts.length === 0) fail('a point needs a path, such as /supply_temp')
  const badPart = parts.find((p) => p === '.' || p === '..' || p === '+' || !SEGMENT.test(p))
  if (badPart !== undefined) fail(`invalid path "${rawPath}": segment "${badPart}" may use only letters, digits and _ . ~ : @ ! $ ' ( ) * , ; = -`)
  const path = `/${parts.join('/')}`
  const of = (why: string): never => fail(`${path}: ${why}`)

  const fnText = cell('function').toLowerCase()
  const fn = FUNCTIONS.find((f) => f === fnText) ?? of(`unknown function "${cell('function')}": expected holding, input, coil or discrete`)
  const bits = fn === 'coil' || fn === 'discrete'

  const typeText = cell('type').toLowerCase()
  let type: RegisterType | undefined
  if (bits) {
    if (typeText !== '' && typeText !== 'bool') of(`a ${fn} is one bit: leave type empty (or write bool), got "${cell('type')}"`)
  } else {
    type = typeText === '' ? 'uint16' : (TYPES.find((t) => t === typeText) ?? of(`unknown type "${cell('type')}": expected ${TYPES.join(', ')}`))
  }
  const size = type === undefined ? 1 : REGISTER_TYPES[type].words

  const addressText = cell('address')
  if (!/^\d+$/.test(addressText)) of(`address: expected a whole number from 0 to 65535 (the protocol address: holding register 40001 is address 0), got "${addressText}"`)
  const address = Number(addressText)
  if (address > 0xffff) of(`address ${address} is out of range: Modbus addresses go from 0 to 65535 (holding register 40001 is address 0)`)
  if (address + size - 1 > 0xffff) of(`a ${type} takes ${size} registers, ${address} to ${address + size - 1}, past the last address 65535`)

  const number = (c: Column, fallback: number): number => {
    const t = cell(c)
    if (t === '') return fallback
    if (!NUMBER.test(t)) of(`${c}: expected a number, got "${t}"`)
    return Number(t)
  }
  const orderText = cell('order').toUpperCase()
  let encoding: Encoding | undefined
  if (type === undefined) {
    for (const c of ['order', 'scale', 'offset'] as const) if (cell(c) !== '') of(`${c} is for registers; a ${fn} is one bit: leave ${c} empty`)
  } else {
    const orders = ordersFor(size)
    const order = orderText === '' ? (orders[0] as ByteOrder) : (orders.find((o) => o === orderText) ?? of(`order "${cell('order')}" does not fit a ${type}: expected ${orders.join(', ')}`))
    const scale = number('scale', 1)
    if (scale === 0 || !Number.isFinite(scale)) of(`scale: expected a number other than 0, got "${cell('scale')}"`)
    const offset = number('offset', 0)
    if (!Number.isFinite(offset)) of(`offset: expected a finite number, got "${cell('offset')}"`)
    encoding = { type, order, scale, offset }
  }

  const unit = cell('unit')
  if (unit === '') of('unit: missing: give the unit of measure, e.g. kW, degC or on/off')

  const writableText = cell('writable').toLowerCase()
  if (!YES.includes(writableText) && !NO.includes(writableText)) of(`writable: expected true or false, got "${cell('writable')}"`)
  const writable = YES.includes(writableText)
  if (writable && !(fn === 'holding' || fn === 'coil')) of(`${fn === 'input' ? 'an input register' : 'a discrete input'} cannot be written: only holding registers and coils can; set writable to false`)
  let actuator: MapPoint['actuator']
  if (!writable || fn === 'coil') {
    for (const c of ['min', 'max'] as const) if (cell(c) !== '') of(`${c} is the range of a writable holding register; leave it empty here`)
    if (writable) actuator = { model: 'binary' }
  } else {
    const e = encoding as Encoding
    const [low, high] = engineeringRange(e)
    const min = number('min', low)
    const max = number('max', high)
    if (min > max) of(`min (${min}) is above max (${max})`)
    if (min < low || max > high) of(`the range ${min} to ${max} does not fit a ${e.type}${e.scale !== 1 || e.offset !== 0 ? ` scaled by ${e.scale} with offset ${e.offset}` : ''}: it holds ${low} to ${high}`)
    const whole = REGISTER_TYPES[e.type].integer && e.scale === 1 && e.offset === 0
    if (whole && (!Number.isInteger(min) || !Number.isInteger(max))) of(`min and max of a ${e.type} with no scale are whole numbers, got ${min} and ${max}`)
    actuator = { model: whole ? 'continuousInteger' : 'continuous', min, max }
  }

  const unitText = cell('unitid')
  if (unitText !== '' && !(/^\d+$/.test(unitText) && Number(unitText) <= 255)) of(`unitid: expected a Modbus unit id from 0 to 255, got "${unitText}"`)
  const description = cell('description')
  return {
    path,
    function: fn,
    address,
    size,
    ...(unitText === '' ? {} : { unitId: Number(unitText) }),
    ...(encoding ? { encoding } : {}),
    unit,
    ...(description === '' ? {} : { description }),
    ...(actuator ? { actuator } : {}),
    where,
    line,
  }
}

/** Points that share a register (or bit) of one unit's table, each said once: `file:line: ...`. */
export function findOverlaps(points: readonly MapPoint[], defaultUnit: number): string[] {
  const problems: string[] = []
  const groups = new Map<string, MapPoint[]>()
  for (const p of points) {
    const key = `${p.unitId ?? defaultUnit}/${p.function}`
    groups.set(key, [...(groups.get(key) ?? []), p])
  }
  const span = (q: MapPoint): string => (q.size === 1 ? `${q.address}` : `${q.address} to ${q.address + q.size - 1}`)
  for (const group of groups.values()) {
    // the point reaching furthest so far: any later one starting before its end shares a register with it
    let reach: MapPoint | undefined
    for (const p of [...group].sort((a, b) => a.address - b.address || a.line - b.line)) {
      if (reach && p.address < reach.address + reach.size) {
        const [first, second] = reach.line <= p.line ? [reach, p] : [p, reach]
        problems.push(`${second.where}: ${second.path} (${p.function} ${span(second)}) overlaps ${first.path} (${span(first)}, line ${first.line}) of unit ${p.unitId ?? defaultUnit}: each register belongs to one point`)
      }
      if (!reach || p.address + p.size > reach.address + reach.size) reach = p
    }
  }
  return problems
}
