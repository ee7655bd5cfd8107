import { open } from 'node:fs/promises'
import { SmapError } from '@smap/core'

// What the HTTP sink and the MQTT sink share: how a report is checked, recorded and printed.

/** One stream's part of a report, as the sink records it (one JSON line with --out). */
export interface SinkRecord {
  received: number
  batch: string | null
  path: string
  uuid: string
  readings: unknown[][]
  unit?: string
}

/** A request the sink refuses, with the status and the one-line reason it answers. */
export class Refusal extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

export async function checkWritable(file: string): Promise<void> {
  try {
    await (await open(file, 'a')).close()
  } catch (err) {
    throw new SmapError('SMAP_SINK_OUT', `--out: cannot append to ${file}: ${(err as Error).message}`, { cause: err })
  }
}

export type ReportEntry = { uuid?: unknown; Properties?: { UnitofMeasure?: unknown }; Readings?: unknown; Contents?: unknown }

/** Checks the shape of a report payload, refusing it with the first problem. */
export function parseReport(body: Buffer): Record<string, ReportEntry> {
  let payload: unknown
  try {
    payload = JSON.parse(body.toString('utf8'))
  } catch (err) {
    throw new Refusal(400, `report body is not JSON: ${(err as Error).message}`)
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw new Refusal(400, `a report must be a JSON object keyed by path, got ${payload === null ? 'null' : Array.isArray(payload) ? 'an array' : typeof payload}`)
  }
  for (const [path, entry] of Object.entries(payload)) {
    if (!path.startsWith('/')) throw new Refusal(400, `"${path}": report keys must be paths starting with /`)
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new Refusal(400, `"${path}": expected a Collection or Timeseries object`)
    const e = entry as ReportEntry
    if (e.Readings === undefined) continue
    if (typeof e.uuid !== 'string') throw new Refusal(400, `"${path}": a timeseries needs a uuid`)
    if (!Array.isArray(e.Readings) || !e.Readings.every((r) => Array.isArray(r) && r.length >= 2 && typeof r[0] === 'number')) {
      throw new Refusal(400, `"${path}": Readings must be a list of [time, value] pairs, time in Unix milliseconds`)
    }
  }
  return payload as Record<string, ReportEntry>
}

/** One record per timeseries in the report; `units` remembers each stream's unit, sent only with its first report. */
export function toRecords(report: Record<string, ReportEntry>, received: number, batch: string | null, units: Map<string, string>): SinkRecord[] {
  const records: SinkRecord[] = []
  for (const [path, entry] of Object.entries(report)) {
    if (entry.Readings === undefined) continue
    const uuid = entry.uuid as string
    const sentUnit = entry.Properties?.UnitofMeasure
    if (typeof sentUnit === 'string') units.set(uuid, sentUnit)
    const unit = units.get(uuid)
    const r: SinkRecord = { received, batch, path, uuid, readings: entry.Readings as unknown[][] }
    if (unit !== undefined) r.unit = unit
    records.push(r)
  }
  return records
}

/** `2026-11-28T07:40:01.123Z /instrument0/sensor0 b37e5c5f… 3 readings, last 42 V at 2026-11-28T07:40:00.000Z` */
export function describeRecord(r: SinkRecord): string {
  const head = `${iso(r.received)} ${r.path} ${r.uuid.slice(0, 8)}…`
  const last = r.readings[r.readings.length - 1]
  if (last === undefined) return `${head} metadata${r.unit === undefined ? '' : ` (unit ${r.unit})`}, no readings`
  const value = typeof last[1] === 'string' ? JSON.stringify(last[1]) : String(last[1])
  return `${head} ${plural(r.readings.length, 'reading')}, last ${value}${r.unit === undefined ? '' : ` ${r.unit}`} at ${iso(last[0] as number)}`
}

export function warn(at: number, message: string): void {
  process.stderr.write(`${iso(at)} warning: ${message}\n`)
}

export function iso(ms: number): string {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? String(ms) : d.toISOString()
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}
