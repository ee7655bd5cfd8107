import { hash } from 'node:crypto'
import { parse as parseUuid } from 'uuid'

/** Namespaces seen lately, as their 16 bytes (a source uses a handful: its root and one per driver). */
const namespaces = new Map<string, Uint8Array>()
const NAMESPACES_KEPT = 256

function namespaceBytes(namespace: string): Uint8Array {
  let bytes = namespaces.get(namespace)
  if (bytes === undefined) {
    bytes = parseUuid(namespace) // throws for a namespace that is not a uuid
    if (namespaces.size >= NAMESPACES_KEPT) namespaces.clear()
    namespaces.set(namespace, bytes)
  }
  return bytes
}

/**
 * The uuid of `name` in `namespace`: RFC 4122 version 5, identical to Python's
 * `uuid.uuid5(UUID(namespace), name)`, so streams keep their identity when a
 * site moves from the original sMAP library.
 */
export function uuid5(namespace: string, name: string): string {
  if (typeof name !== 'string' || !name.isWellFormed()) {
    throw new TypeError(`uuid5: the name must be a string of whole Unicode characters, got ${typeof name === 'string' ? JSON.stringify(name) : typeof name}`)
  }
  // SHA-1 of the namespace's bytes then the name's UTF-8, in one call: a source
  // derives one per stream at start-up, 100,000 of them on a big gateway
  const ns = namespaceBytes(namespace)
  const data = Buffer.allocUnsafe(16 + Buffer.byteLength(name, 'utf8'))
  data.set(ns, 0)
  data.write(name, 16, 'utf8')
  const x = hash('sha1', data, 'hex')
  // version 5 in the high nibble of byte 6, the RFC 4122 variant in the top bits of byte 8
  const variant = ((Number.parseInt(x.charAt(16), 16) & 0x3) | 0x8).toString(16)
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-5${x.slice(13, 16)}-${variant}${x.slice(17, 20)}-${x.slice(20, 32)}`
}
