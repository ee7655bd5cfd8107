/**
 * Base of every error sMAP throws on purpose: `code` is stable
 * (`SMAP_<AREA>_<PROBLEM>`), the message says what failed and how to fix it.
 * A driver's own errors extend it.
 */
export class SmapError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SmapError'
    this.code = code
  }
}
