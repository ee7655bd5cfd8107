import bytes from 'bytes'
import { ConfigError, type ConfigLocation } from '../errors.js'

/** What a port must be, in every message about one. */
export const PORT_RULE = 'a port number from 0 to 65535'

/** A TCP port from a config or command-line value, or undefined if it is not one. */
export function parsePort(value: string | number): number | undefined {
  const port = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN
  return Number.isInteger(port) && port >= 0 && port <= 65535 ? port : undefined
}

/** `[server] Port` and the like: the port, or a ConfigError at `where`. */
export function readPort(value: string, where: ConfigLocation): number {
  const port = parsePort(value)
  if (port === undefined) throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected ${PORT_RULE}, got "${value}"`)
  return port
}

export function readNonEmpty(value: string, where: ConfigLocation, expected: string): string {
  if (value === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected ${expected}`)
  return value
}

export function readMs(value: string, min: number, max: number, where: ConfigLocation): number {
  return readWhole(value, min, max, where, 'milliseconds')
}

export function readCount(value: string, min: number, max: number, where: ConfigLocation): number {
  return readWhole(value, min, max, where, 'a whole number')
}

/** Digits only, from `min` to `max`; `what` names them in the error (`expected milliseconds from 10 to 60000`). */
function readWhole(value: string, min: number, max: number, where: ConfigLocation, what: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= min && n <= max)) throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected ${what} from ${min} to ${max}, got "${value}"`)
  return n
}

/** A size such as `512MB`, `2GB` or `1048576` (units of 1024: 1KB = 1024 bytes), at least `min` bytes. */
export function readBytes(value: string, min: number, where: ConfigLocation): number {
  const n = /^\d+(\.\d+)?\s*([kmgt]i?b|b)?$/i.test(value.trim()) ? bytes.parse(value.replace(/ib$/i, 'b')) : null
  if (n === null || !Number.isFinite(n) || n < min) {
    throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected a size of at least ${bytes.format(min)}, such as 512MB or 2GB (1KB = 1024 bytes), got "${value}"`)
  }
  return Math.floor(n)
}

/** A size as `readBytes` reads it back: `512MB`. */
export function writeBytes(n: number): string {
  const text = bytes.format(n, { unitSeparator: '' })
  // exactly as read, or the plain count
  return text !== null && bytes.parse(text) === n ? text : String(n)
}

export function readBoolean(value: string, where: ConfigLocation): boolean {
  const v = value.toLowerCase()
  if (['true', 'yes', 'on', '1'].includes(v)) return true
  if (['false', 'no', 'off', '0'].includes(v)) return false
  throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected true or false, got "${value}"`)
}
