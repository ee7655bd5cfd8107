import { SmapError } from '@smap/sdk'

/**
 * A problem talking to CAISO: `SMAP_CAISO_HTTP` (the request failed or was
 * answered with an error status), `SMAP_CAISO_FORMAT` (the answer was not in
 * the expected format), `SMAP_CAISO_OASIS` (OASIS answered with an error
 * code), `SMAP_CAISO_THROTTLED` (OASIS kept refusing requests as too
 * frequent), `SMAP_CAISO_NO_DATA` (an import's range got no prices: OASIS
 * no longer serves it), `SMAP_CAISO_RANGE` (a bad history range).
 */
export class CaisoError extends SmapError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
    this.name = 'CaisoError'
  }
}
