/** A mistake in what the user asked for (a bad name, a non-empty directory); printed as one line. */
export class CreateError extends Error {
  /** `SMAP_CREATE_<PROBLEM>`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CreateError'
    this.code = code
  }
}
