import { v5 as uuidv5, validate as uuidValidate } from 'uuid'
import { SmapError } from './errors.js'

/**
 * The uuid of `name` in `namespace`: RFC 4122 version 5, identical to Python's
 * `uuid.uuid5(UUID(namespace), name)`, so streams keep their identity when a
 * site moves from the original sMAP library.
 */
export function uuid5(namespace: string, name: string): string {
  return uuidv5(name, namespace)
}

/** Whether `value` is a uuid in canonical 8-4-4-4-12 hex form. */
export function isUuid(value: string): boolean {
  return uuidValidate(value)
}

/** Canonical (lower-case) form of a uuid, or a clear error naming `what`. */
export function parseUuid(value: string, what: string): string {
  const trimmed = value.trim()
  if (!isUuid(trimmed)) {
    throw new SmapError(
      'SMAP_UUID_INVALID',
      `${what} must be a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got "${value}" (run \`smap uuid\` for a new one)`,
    )
  }
  return trimmed.toLowerCase()
}
