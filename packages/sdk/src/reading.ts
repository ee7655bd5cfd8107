import type { ReadingType } from './schemas.js'
import { SmapError } from './errors.js'

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
    throw new SmapError('SMAP_READING_INVALID', `cannot add ${describe(value)} to ${path}: its ReadingType is ${readingType} (${EXPECTED[readingType]})`)
  }
  if (typeof time !== 'number' || !Number.isFinite(time) || time < 0) {
    throw new SmapError('SMAP_READING_INVALID', `cannot add a reading to ${path} at time ${describe(time)}: a time is Unix milliseconds, a number >= 0`)
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`
  if (typeof value === 'number') return String(value)
  if (value === undefined) return 'undefined'
  return `${typeof value} ${JSON.stringify(value) ?? String(value)}`
}
