import type { ReadingType } from '@smap/sdk'
import { FieldError, smapError } from '../errors.js'

const EXPECTED: Record<ReadingType, string> = {
  long: 'a whole number',
  double: 'a finite number',
  string: 'a string',
}

/** Whether `value` fits `readingType` (long: a safe integer; double: finite; string). */
export function fitsReadingType(readingType: ReadingType, value: unknown): boolean {
  return readingType === 'long'
    ? Number.isSafeInteger(value)
    : readingType === 'double'
      ? typeof value === 'number' && Number.isFinite(value)
      : typeof value === 'string'
}

/** Throws an error naming the stream and its type unless `[time, value]` is a valid reading for it. */
export function checkReading(path: string, readingType: ReadingType, time: unknown, value: unknown): void {
  if (!fitsReadingType(readingType, value)) {
    throw smapError('SMAP_READING_INVALID', `cannot add ${describe(value)} to ${path}: its ReadingType is ${readingType} (${EXPECTED[readingType]})`)
  }
  if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) {
    throw smapError('SMAP_READING_INVALID', `cannot add a reading to ${path} at time ${describe(time)}: a time is Unix milliseconds, a number >= 0`)
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  if (typeof value === 'number') return String(value)
  if (value === undefined) return 'undefined'
  return `${typeof value} ${JSON.stringify(value) ?? String(value)}`
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
