import { setTimeout as sleep } from 'node:timers/promises'
import modbus from 'modbus-serial'
import { ModbusError } from './errors.js'

export { ModbusError } from './errors.js'

type ModbusClient = InstanceType<typeof modbus.default>

/** How Modbus requests travel: Modbus/TCP (MBAP header), or RTU frames over a raw TCP socket (serial gateways). */
export type ModbusTransport = 'modbus-tcp' | 'rtu-over-tcp'

/** The usual TCP port of each transport: 502 for Modbus/TCP, 4660 for a serial gateway. */
export const DEFAULT_PORTS = { 'modbus-tcp': 502, 'rtu-over-tcp': 4660 } as const

/** Most registers one read (03, 04) or write (16) may carry. */
export const MAX_REGISTERS = 125
/** Most coils or discrete inputs one read (01, 02) may carry. */
export const MAX_BITS = 2000

/** Where the device (or its serial gateway) is and how to talk to it. */
export interface LinkOptions {
  host: string
  port: number
  transport: ModbusTransport
  /** Longest wait for one request, connecting included. */
  timeoutMs: number
  /** Least time between the starts of two requests. */
  spacingMs: number
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`

/**
 * One TCP connection to a Modbus device or serial gateway, opened when a
 * request needs it and dropped after any failure (a late or garbled reply must
 * not be taken as the answer to the next request). Requests go one at a time,
 * their starts spaced by `spacingMs`; each is bounded by `timeoutMs`. Every
 * failure is a `ModbusError` whose message names the unit, the registers and
 * the device.
 *
 * `rtu-over-tcp` sends Modbus RTU frames (unit, PDU, CRC16) over the socket,
 * as a transparent serial gateway expects; modbus-serial calls this port
 * "Telnet". `modbus-tcp` uses the MBAP header of Modbus/TCP.
 * @example
 * const link = new ModbusLink({ host: '10.0.0.7', port: 502, transport: 'modbus-tcp', timeoutMs: 2000, spacingMs: 0 })
 * const [hi, lo] = await link.readHoldingRegisters(1, 100, 2, AbortSignal.timeout(5000))
 */
export class ModbusLink {
  readonly #options: LinkOptions
  #client: ModbusClient | undefined
  /** Requests in flight, failed at once if the connection drops. */
  readonly #onClose = new Set<(err: ModbusError) => void>()
  #lastRequest = -Infinity
  /** The request before this one: requests never overlap on the wire. */
  #queue: Promise<unknown> = Promise.resolve()

  constructor(options: LinkOptions) {
    this.#options = options
  }

  /** `host:port (transport)`, for messages. */
  get where(): string {
    return `${this.#options.host}:${this.#options.port} (${this.#options.transport})`
  }

  /** Reads `count` holding registers (function 03): exactly `count` 16-bit values. */
  readHoldingRegisters(unit: number, address: number, count: number, signal: AbortSignal): Promise<number[]> {
    checkSpan(address, count, MAX_REGISTERS, 'registers')
    return this.#request(unit, `${plural(count, 'register', 'registers')} at ${address}`, signal, async (c) => registersOf(await c.readHoldingRegisters(address, count), count))
  }

  /** Reads `count` input registers (function 04). */
  readInputRegisters(unit: number, address: number, count: number, signal: AbortSignal): Promise<number[]> {
    checkSpan(address, count, MAX_REGISTERS, 'registers')
    return this.#request(unit, `${plural(count, 'input register', 'input registers')} at ${address}`, signal, async (c) => registersOf(await c.readInputRegisters(address, count), count))
  }

  /** Reads `count` coils (function 01). */
  readCoils(unit: number, address: number, count: number, signal: AbortSignal): Promise<boolean[]> {
    checkSpan(address, count, MAX_BITS, 'coils')
    return this.#request(unit, `${plural(count, 'coil', 'coils')} at ${address}`, signal, async (c) => bitsOf(await c.readCoils(address, count), count))
  }

  /** Reads `count` discrete inputs (function 02). */
  readDiscreteInputs(unit: number, address: number, count: number, signal: AbortSignal): Promise<boolean[]> {
    checkSpan(address, count, MAX_BITS, 'discrete inputs')
    return this.#request(unit, `${plural(count, 'discrete input', 'discrete inputs')} at ${address}`, signal, async (c) => bitsOf(await c.readDiscreteInputs(address, count), count))
  }

  /** Writes one holding register (function 06); the device's echo must match. */
  writeRegister(unit: number, address: number, value: number, signal: AbortSignal): Promise<void> {
    checkSpan(address, 1, 1, 'registers')
    checkWords([value])
    return this.#request(unit, `writing register ${address}`, signal, async (c) => {
      const echo = (await c.writeRegister(address, value)) as { address?: unknown; value?: unknown } | undefined
      if (echo?.address !== address || echo.value !== value) throw new ModbusError('SMAP_MODBUS_BAD_REPLY', `echo ${JSON.stringify(echo)} does not match`)
    })
  }

  /** Writes consecutive holding registers (function 16). */
  writeRegisters(unit: number, address: number, values: readonly number[], signal: AbortSignal): Promise<void> {
    checkSpan(address, values.length, MAX_REGISTERS, 'registers')
    checkWords(values)
    return this.#request(unit, `writing ${plural(values.length, 'register', 'registers')} at ${address}`, signal, async (c) => {
      const echo = (await c.writeRegisters(address, [...values])) as { address?: unknown; length?: unknown } | undefined
      if (echo?.address !== address || echo.length !== values.length) throw new ModbusError('SMAP_MODBUS_BAD_REPLY', `echo ${JSON.stringify(echo)} does not match`)
    })
  }

  /** Writes one coil (function 05). */
  writeCoil(unit: number, address: number, value: boolean, signal: AbortSignal): Promise<void> {
    checkSpan(address, 1, 1, 'coils')
    return this.#request(unit, `writing coil ${address}`, signal, async (c) => {
      const echo = (await c.writeCoil(address, value)) as { address?: unknown; state?: unknown } | undefined
      if (echo?.address !== address || echo.state !== value) throw new ModbusError('SMAP_MODBUS_BAD_REPLY', `echo ${JSON.stringify(echo)} does not match`)
    })
  }

  /** Drops the connection, if any; the next request opens a new one. */
  close(): void {
    const client = this.#client
    this.#client = undefined
    if (client) {
      try {
        client.destroy(() => {})
      } catch {
        // already gone
      }
    }
  }

  /** Runs `call` after the requests before it, spaced and bounded; `what` names it in errors (after `unit N, `). */
  #request<T>(unit: number, what: string, signal: AbortSignal, call: (client: ModbusClient) => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => this.#send(unit, `unit ${unit}, ${what}`, signal, call))
    this.#queue = run.catch(() => undefined)
    return run
  }

  async #send<T>(unit: number, what: string, signal: AbortSignal, call: (client: ModbusClient) => Promise<T>): Promise<T> {
    const wait = this.#lastRequest + this.#options.spacingMs - performance.now()
    if (wait > 0) await sleep(wait, undefined, { signal })
    signal.throwIfAborted()
    this.#lastRequest = performance.now()

    // a timer of our own, not AbortSignal.timeout(): AbortSignal.any holds its sources weakly, and
    // on Node 20 a timeout signal nothing else references can be collected and never fire
    const timeout = new AbortController()
    const timer = setTimeout(() => timeout.abort(new DOMException(`no reply within ${this.#options.timeoutMs} ms`, 'TimeoutError')), this.#options.timeoutMs)
    const deadline = AbortSignal.any([signal, timeout.signal])
    try {
      let client: ModbusClient
      try {
        client = await this.#race(this.#connect(), deadline)
      } catch (err) {
        this.close()
        if (signal.aborted) throw signal.reason
        if (err instanceof ModbusError) throw err
        throw new ModbusError('SMAP_MODBUS_CONNECT', `cannot connect to ${this.where}: no answer within ${this.#options.timeoutMs / 1000} s`, { cause: err })
      }
      try {
        client.setID(unit)
        return await this.#race(call(client), deadline)
      } catch (err) {
        this.close()
        if (signal.aborted) throw signal.reason
        throw this.#explain(err, what, deadline)
      }
    } finally {
      clearTimeout(timer)
    }
  }

  async #connect(): Promise<ModbusClient> {
    if (this.#client?.isOpen) return this.#client
    this.close()
    const { host, port, transport } = this.#options
    const client = new modbus.default()
    // a socket error or close fails the request in flight instead of leaving it to the timeout
    client.on('error', () => {})
    this.#client = client
    client.on('close', () => {
      const err = new ModbusError('SMAP_MODBUS_CLOSED', `${this.where} closed the connection`)
      for (const fail of this.#onClose) fail(err)
    })
    try {
      if (transport === 'modbus-tcp') await client.connectTCP(host, { port })
      else await client.connectTelnet(host, { port })
    } catch (err) {
      if (this.#client === client) this.close()
      throw new ModbusError('SMAP_MODBUS_CONNECT', `cannot connect to ${this.where}: ${messageOf(err)}`, { cause: err })
    }
    return client
  }

  #race<T>(work: Promise<T>, deadline: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => settle(reject)(deadline.reason)
      const settle =
        <A extends unknown[]>(fn: (...a: A) => void) =>
        (...a: A): void => {
          deadline.removeEventListener('abort', onAbort)
          this.#onClose.delete(onClose)
          fn(...a)
        }
      const onClose = settle(reject)
      if (deadline.aborted) return onAbort()
      deadline.addEventListener('abort', onAbort, { once: true })
      this.#onClose.add(onClose)
      work.then(settle(resolve), settle(reject))
    })
  }

  #explain(err: unknown, what: string, deadline: AbortSignal): ModbusError {
    if (err instanceof ModbusError) {
      // a check of the reply here: say which request it was
      if (err.code === 'SMAP_MODBUS_SHORT_READ') return new ModbusError(err.code, `short reply from ${what}: ${err.message}`, { cause: err })
      if (err.code === 'SMAP_MODBUS_BAD_REPLY') return new ModbusError(err.code, `garbled reply from ${what}: ${err.message}`, { cause: err })
      return err
    }
    if (deadline.aborted && (err as Error | undefined)?.name === 'TimeoutError') {
      return new ModbusError('SMAP_MODBUS_TIMEOUT', `no reply from ${what} within ${this.#options.timeoutMs / 1000} s`, { cause: err })
    }
    const message = messageOf(err)
    if (/^Modbus exception/.test(message)) return new ModbusError('SMAP_MODBUS_EXCEPTION', `${what} answered with ${message}`, { cause: err })
    if (/CRC|length|Unexpected data/i.test(message)) return new ModbusError('SMAP_MODBUS_BAD_REPLY', `garbled reply from ${what}: ${message}`, { cause: err })
    return new ModbusError('SMAP_MODBUS_CLOSED', `request to ${what} failed: ${message}`, { cause: err })
  }
}

function checkSpan(address: number, count: number, most: number, what: string): void {
  if (!Number.isInteger(address) || !Number.isInteger(count) || count < 1 || count > most || address < 0 || address + count > 0x10000) {
    throw new ModbusError('SMAP_MODBUS_REQUEST', `cannot ask for ${count} ${what} at ${address}: Modbus takes 1 to ${most} at a time, at addresses 0 to 65535`)
  }
}

function checkWords(values: readonly number[]): void {
  const bad = values.find((v) => !Number.isInteger(v) || v < 0 || v > 0xffff)
  if (bad !== undefined) throw new ModbusError('SMAP_MODBUS_REQUEST', `cannot write ${bad} to a register: a register holds a whole number from 0 to 65535`)
}

function registersOf(reply: { data?: unknown } | undefined, count: number): number[] {
  const data = reply?.data
  if (!Array.isArray(data) || data.length !== count) throw new ModbusError('SMAP_MODBUS_SHORT_READ', `got ${Array.isArray(data) ? data.length : 'no'} registers`)
  for (const v of data) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new ModbusError('SMAP_MODBUS_BAD_REPLY', `${String(v)} is not a register value`)
  }
  return data as number[]
}

/** Bits come packed in bytes, the last one padded: exactly ceil(count / 8) bytes, of which `count` bits count. */
function bitsOf(reply: { data?: unknown; buffer?: unknown } | undefined, count: number): boolean[] {
  const data = reply?.data
  const bytes = reply?.buffer instanceof Uint8Array ? reply.buffer.length : undefined
  if (!Array.isArray(data) || bytes !== Math.ceil(count / 8)) throw new ModbusError('SMAP_MODBUS_SHORT_READ', `got ${bytes ?? 'no'} bytes of bits for ${count}`)
  return (data as unknown[]).slice(0, count).map((b) => b === true)
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message)
  return String(err)
}
