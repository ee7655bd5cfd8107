import { uuid5 } from '@smap/sdk'
import { validate as uuidValidate } from 'uuid'
import { smapError } from '../errors.js'

export { uuid5 }

/** Whether `value` is a uuid in canonical 8-4-4-4-12 hex form. */
export function isUuid(value: string): boolean {
  return uuidValidate(value)
}

/** Canonical (lower-case) form of a uuid, or a clear error naming `what`. */
export function parseUuid(value: string, what: string): string {
  if (typeof value !== 'string') {
    throw smapError('SMAP_UUID_INVALID', `${what} must be a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got ${value === null ? 'null' : typeof value} (leave it out to derive the uuid from the key)`)
  }
  const trimmed = value.trim()
  if (!isUuid(trimmed)) {
    throw smapError(
      'SMAP_UUID_INVALID',
      `${what} must be a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got "${value}" (run \`smap uuid\` for a new one)`,
    )
  }
  return trimmed.toLowerCase()
}
