import type { Metadata, MetadataInput } from '@smap/sdk'
import { smapError } from '../errors.js'

// names that would reach Object.prototype instead of the metadata itself
const RESERVED = new Set(['__proto__', 'constructor', 'prototype'])

/** Flat `'A/B' -> value` pairs of nested metadata. */
export function flattenMetadata(meta: Metadata, prefix = ''): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const [k, v] of Object.entries(meta)) {
    const key = prefix ? `${prefix}/${k}` : k
    if (typeof v === 'string') out.push([key, v])
    else out.push(...flattenMetadata(v, key))
  }
  return out
}

/**
 * Merges `input` into `target` (mutating it). Keys may contain `/` to name
 * nested groups; numbers and booleans are stored as strings, as on the wire.
 */
export function mergeMetadata(target: Metadata, input: MetadataInput, where: string, prefix = ''): void {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw smapError('SMAP_METADATA_INVALID', `metadata for ${where} must be an object like { "Instrument/Manufacturer": "Dent" }, got ${JSON.stringify(input)}`)
  }
  for (const [rawKey, value] of Object.entries(input)) {
    let parts = rawKey.split('/').filter((p) => p !== '')
    // `{ Metadata: {...} }` and `Metadata/Group/Name`, as the original sMAP and config keys write them: the wrapper is not a group
    if (prefix === '' && parts[0] === 'Metadata' && (parts.length > 1 || (typeof value === 'object' && value !== null))) {
      parts = parts.slice(1)
      if (parts.length === 0) {
        mergeMetadata(target, value as MetadataInput, where)
        continue
      }
    }
    const name = prefix ? `${prefix}/${parts.join('/')}` : parts.join('/')
    if (parts.length === 0) {
      throw smapError('SMAP_METADATA_INVALID', `metadata for ${where} has an empty key${prefix ? ` under ${prefix}` : ''}`)
    }
    const reserved = parts.find((p) => RESERVED.has(p))
    if (reserved !== undefined) {
      throw smapError('SMAP_METADATA_INVALID', `metadata ${name} for ${where}: "${reserved}" cannot be a metadata name`)
    }
    let group = target
    for (const part of parts.slice(0, -1)) {
      const next = group[part]
      if (typeof next === 'string') {
        throw smapError('SMAP_METADATA_INVALID', `metadata ${name} for ${where}: ${part} already holds the value "${next}", so it cannot also be a group`)
      }
      group = next ?? (group[part] = {})
    }
    const leaf = parts[parts.length - 1] as string
    if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
      if (typeof group[leaf] === 'object') {
        throw smapError('SMAP_METADATA_INVALID', `metadata ${name} for ${where} is a group, so it cannot be set to the value "${String(value)}"`)
      }
      group[leaf] = String(value)
    } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const existing = group[leaf]
      if (typeof existing === 'string') {
        throw smapError('SMAP_METADATA_INVALID', `metadata ${name} for ${where} already holds the value "${existing}", so it cannot also be a group`)
      }
      if (Object.keys(value).length === 0) continue // an empty group carries nothing
      mergeMetadata(existing ?? (group[leaf] = {}), value, where, name)
    } else {
      throw smapError('SMAP_METADATA_INVALID', `metadata ${name} for ${where} must be a string, got ${JSON.stringify(value) ?? String(value)}`)
    }
  }
}

/** A deep copy, so callers cannot change a resource's metadata behind its back. */
export function cloneMetadata(meta: Metadata): Metadata {
  return structuredClone(meta)
}

/** A resource's Description: a string, or undefined to have none; anything else is an error naming the resource. */
export function checkDescription(value: unknown, path: string): string | undefined {
  if (value === undefined || typeof value === 'string') return value
  throw smapError('SMAP_METADATA_INVALID', `${path}: a Description must be a string, got ${value === null ? 'null' : typeof value === 'object' ? 'an object' : `the ${typeof value} ${String(value)}`}`)
}
