import { once } from 'node:events'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it } from 'vitest'
import { ModbusError, ModbusLink } from '../src/link.js'
import { startDevice } from './fixtures/device.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const cleanup: Array<() => unknown> = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A device that takes connections and never answers. */
async function silent(): Promise<number> {
  const sockets = new Set<Socket>()
  const server = createServer((s) => void sockets.add(s))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  cleanup.push(() => {
    for (const s of sockets) s.destroy()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })
  return (server.address() as AddressInfo).port
}

describe('ModbusLink', () => {
  it('times out a request even when the garbage collector runs while it waits', async () => {
    const link = new ModbusLink({ host: '127.0.0.1', port: await silent(), transport: 'modbus-tcp', timeoutMs: 200, spacingMs: 0 })
    cleanup.push(() => link.close())
    const request = link.readHoldingRegisters(1, 0, 1, new AbortController().signal).then(
      () => 'answered',
      (err: unknown) => err,
    )
    await sleep(50)
    for (let i = 0; i < 5; i++) gc()
    const result = await Promise.race([request, sleep(2000, 'still waiting after 2 s')])
    expect(result).toBeInstanceOf(ModbusError)
    expect(result).toMatchObject({ code: 'SMAP_MODBUS_TIMEOUT', message: 'no reply from unit 1, 1 register at 0 within 0.2 s' })
  })

  it('sends requests one at a time, spaced, in the order they were made', async () => {
    const d = await startDevice('mbap')
    cleanup.push(() => d.close())
    d.set('holding', 0, [1, 2, 3])
    d.set('coil', 0, [true, false])
    const link = new ModbusLink({ host: '127.0.0.1', port: d.port, transport: 'modbus-tcp', timeoutMs: 1000, spacingMs: 100 })
    cleanup.push(() => link.close())
    const signal = new AbortController().signal
    const started = performance.now()
    const [regs, coils] = await Promise.all([link.readHoldingRegisters(1, 0, 3, signal), link.readCoils(1, 0, 2, signal), link.writeRegister(1, 1, 7, signal)])
    expect(regs).toEqual([1, 2, 3])
    expect(coils).toEqual([true, false])
    expect(d.get('holding', 1)).toBe(7)
    expect(d.requests.map((r) => r.fc)).toEqual([3, 1, 6])
    expect(performance.now() - started).toBeGreaterThanOrEqual(190)
  })

  it('refuses a request no device could take, before sending it', async () => {
    const link = new ModbusLink({ host: '127.0.0.1', port: 1, transport: 'modbus-tcp', timeoutMs: 100, spacingMs: 0 })
    const signal = new AbortController().signal
    expect(() => link.readHoldingRegisters(1, 0, 126, signal)).toThrow('cannot ask for 126 registers at 0: Modbus takes 1 to 125 at a time, at addresses 0 to 65535')
    expect(() => link.readCoils(1, 65535, 2, signal)).toThrow('cannot ask for 2 coils at 65535')
    expect(() => link.writeRegister(1, 0, 65536, signal)).toThrow('cannot write 65536 to a register: a register holds a whole number from 0 to 65535')
  })
})
