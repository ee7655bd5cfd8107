import { setTimeout as sleep } from 'node:timers/promises'
import modbus from 'modbus-serial'
import { DentError } from './errors.js'
import type { Transport } from './options.js'

type ModbusClient = InstanceType<typeof modbus.default>

/** Where the meter (or its serial gateway) is and how to talk to it. */
export interface LinkOptions {
  host: string
  port: number
  transport: Transport
  /** Longest wait for one request, connecting included. */
  timeoutMs: number
  /** Least time between the starts of two requests. */
  spacingMs: number
}

/**
 * One TCP connection to a meter or serial gateway, opened when a request
 * needs it and dropped after any failure (a late or garbled reply must not be
 * taken as the answer to the next request). Requests are spaced by
 * `spacingMs` and each is bounded by `timeoutMs`.
 *
 * `rtu-over-tcp` sends Modbus RTU frames (unit, PDU, CRC16) over the socket,
 * as a transparent serial gateway expects; modbus-serial calls this port
 * "Telnet". `modbus-tcp` uses the MBAP header of Modbus/TCP.
 */
export class ModbusLink {
  readonly #options: LinkOptions
  #client: ModbusClient | undefined
  /** Requests in flight, failed at once if the connection drops. */
  readonly #onClose = new Set<(err: DentError) => void>()
  #lastRequest = -Infinity

  constructor(options: LinkOptions) {
    this.#options = options
  }

  /** `host:port (transport)`, for messages. */
  get where(): string {
    return `${this.#options.host}:${this.#options.port} (${this.#options.transport})`
  }

  /**
   * Reads `count` holding registers from `address` of `unit`; resolves with
   * exactly `count` 16-bit values or rejects with a `DentError`.
   */
  async readHoldingRegisters(unit: number, address: number, count: number, signal: AbortSignal): Promise<number[]> {
    const what = `unit ${unit}, ${count} register${count === 1 ? '' : 's'} at ${address}`
    const wait = this.#lastRequest + this.#options.spacingMs - performance.now()
    if (wait > 0) await sleep(wait, undefined, { signal })
    signal.throwIfAborted()
    this.#lastRequest = performance.now()

    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.#options.timeoutMs)])
    let client: ModbusClient
    try {
      client = await this.#race(this.#connect(), deadline)
    } catch (err) {
      this.close()
      if (signal.aborted) throw signal.reason
      if (err instanceof DentError) throw err
      throw new DentError('SMAP_DENT_CONNECT', `cannot connect to ${this.where}: no answer within ${this.#options.timeoutMs / 1000} s`, { cause: err })
    }
    try {
      client.setID(unit)
      const reply = await this.#race(client.readHoldingRegisters(address, count), deadline)
      const data: unknown = reply?.data
      if (!Array.isArray(data) || data.length !== count) {
        throw new DentError('SMAP_DENT_SHORT_READ', `short reply from ${what}: got ${Array.isArray(data) ? data.length : 'no'} registers`)
      }
      for (const v of data) {
        if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new DentError('SMAP_DENT_BAD_REPLY', `garbled reply from ${what}: ${String(v)} is not a register value`)
      }
      return data as number[]
    } catch (err) {
      this.close()
      if (signal.aborted) throw signal.reason
      throw this.#explain(err, what, deadline)
    }
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

  async #connect(): Promise<ModbusClient> {
    if (this.#client?.isOpen) return this.#client
    this.close()
    const { host, port, transport } = this.#options
    const client = new modbus.default()
    // a socket error or close fails the request in flight instead of leaving it to the timeout
    client.on('error', () => {})
    this.#client = client
    client.on('close', () => {
      const err = new DentError('SMAP_DENT_CLOSED', `${this.where} closed the connection`)
      for (const fail of this.#onClose) fail(err)
    })
    try {
      if (transport === 'modbus-tcp') await client.connectTCP(host, { port })
      else await client.connectTelnet(host, { port })
    } catch (err) {
      if (this.#client === client) this.close()
      throw new DentError('SMAP_DENT_CONNECT', `cannot connect to ${this.where}: ${messageOf(err)}`, { cause: err })
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

  #explain(err: unknown, what: string, deadline: AbortSignal): DentError {
    if (err instanceof DentError) return err
    if (deadline.aborted && (err as Error | undefined)?.name === 'TimeoutError') {
      return new DentError('SMAP_DENT_TIMEOUT', `no reply from ${what} within ${this.#options.timeoutMs / 1000} s`, { cause: err })
    }
    const message = messageOf(err)
    if (/^Modbus exception/.test(message)) return new DentError('SMAP_DENT_EXCEPTION', `${what} answered with ${message}`, { cause: err })
    if (/CRC|length|Unexpected data/i.test(message)) return new DentError('SMAP_DENT_BAD_REPLY', `garbled reply from ${what}: ${message}`, { cause: err })
    return new DentError('SMAP_DENT_CLOSED', `request to ${what} failed: ${message}`, { cause: err })
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message || err.name
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message)
  return String(err)
}
