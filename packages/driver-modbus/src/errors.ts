import { SmapError } from '@smap/sdk'

/**
 * A problem talking to a Modbus device. `code` is one of
 * `SMAP_MODBUS_CONNECT` (cannot connect), `SMAP_MODBUS_CLOSED` (the connection
 * dropped), `SMAP_MODBUS_TIMEOUT` (no reply), `SMAP_MODBUS_BAD_REPLY`
 * (garbled: bad CRC, wrong unit, function or echo), `SMAP_MODBUS_SHORT_READ`,
 * `SMAP_MODBUS_EXCEPTION` (the device answered with a Modbus exception) and
 * `SMAP_MODBUS_REQUEST` (a request no device could take, e.g. 126 registers).
 */
export class ModbusError extends SmapError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'ModbusError'
  }
}
