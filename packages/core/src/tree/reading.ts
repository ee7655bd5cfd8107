import type { ReadingType } from '@smap/sdk'
import { FieldError, smapError } from '../errors.js'

const EXPECTED: Record<ReadingType, string> = {
  long: 'a whole number',
  double: 'a finite number',
  string: 'a string',
}

/** The latest time a JavaScript Date can hold, in Unix ms (year 275760). */
export const MAX_TIME = 8.64e15

/** Whether `value` fits `readingType` (long: a safe integer; double: finite; string: well-formed Unicode). */
export function fitsReadingType(readingType: ReadingType, value: unknown): boolean {
  return readingType === 'long'
    ? Number.isSafeInteger(value)
    : readingType === 'double'
      ? typeof value === 'number' && Number.isFinite(value)
      : typeof value === 'string' && value.isWellFormed()
}

/** Throws an error naming the stream and its type unless `[time, value]` is a valid reading for it. */
export function checkReading(path: string, readingType: ReadingType, time: unknown, value: unknown): void {
  if (typeof value === 'string' && readingType === 'string' && !value.isWellFormed()) {
    throw smapError('SMAP_READING_INVALID', `cannot add ${describe(value)} to ${path}: it holds a lone surrogate (half of a UTF-16 pair), which no receiver can decode; fix the text, e.g. with value.toWellFormed()`)
  }
  if (!fitsReadingType(readingType, value)) {
    throw smapError('SMAP_READING_INVALID', `cannot add ${describe(value)} to ${path}: its ReadingType is ${readingType} (${EXPECTED[readingType]})`)
  }
  if (typeof time !== 'number' || !Number.isFinite(time) || time < 0 || time > MAX_TIME) {
    throw smapError('SMAP_READING_INVALID', `cannot add a reading to ${path} at time ${describe(time)}: a time is Unix milliseconds, a number >= 0 and at most ${MAX_TIME} (the last date JavaScript can hold)`)
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`
  if (typeof value === 'number') return String(value)
  if (typeof value === 'bigint') return `the BigInt ${value}n (use a number: Number(x), if it is a safe integer)`
  if (value === undefined || value === null) return String(value)
  if (typeof value === 'symbol' || typeof value === 'function') return `a ${typeof value}`
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch {
    json = undefined
  }
  if (json === undefined) return `a value of type ${typeof value}`
  return `${typeof value} ${json.length > 60 ? `${json.slice(0, 60)}…` : json}`
}

const TIMEZONE_RULE = 'an IANA name such as America/Los_Angeles or UTC'

/** The zone name if the runtime knows it; else a clear error naming `where`. */
export function checkTimezone(zone: string, where: string): string {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return zone
  } catch {
    throw new FieldError('SMAP_TIMEZONE_INVALID', `${where}: unknown time zone "${zone}"; use ${TIMEZONE_RULE}`, 'timezone', TIMEZONE_RULE)
  }
}
