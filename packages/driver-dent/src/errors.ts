import { SmapError } from '@smap/sdk'

/**
 * A problem with a PowerScout or the link to it: no answer, a garbled or
 * short reply, a Modbus exception, or a data scalar the driver does not know.
 * `code` is one of `SMAP_DENT_CONNECT` (cannot connect), `SMAP_DENT_CLOSED`
 * (the connection dropped), `SMAP_DENT_TIMEOUT` (no reply), `SMAP_DENT_BAD_REPLY`
 * (garbled: bad CRC, wrong unit or function), `SMAP_DENT_SHORT_READ`,
 * `SMAP_DENT_EXCEPTION` (a Modbus exception reply), `SMAP_DENT_SCALAR`.
 */
export class DentError extends SmapError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'DentError'
  }
}
