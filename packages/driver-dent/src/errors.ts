import { SmapError } from '@smap/sdk'

/**
 * A problem with what a PowerScout answered: a data scalar the driver does
 * not know (`SMAP_DENT_SCALAR`), or a block that is not 70 registers
 * (`SMAP_DENT_SHORT_READ`, `SMAP_DENT_BAD_REPLY`). Problems of the link itself
 * (no answer, a garbled reply, a Modbus exception) are `ModbusError`s of
 * `@smap/driver-modbus/link`, whose transport this driver shares.
 */
export class DentError extends SmapError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'DentError'
  }
}
