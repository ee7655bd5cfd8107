/** Base of every error this library throws on purpose; `code` is stable, the message says how to fix it. */
export class SmapError extends Error {
  readonly code: string
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SmapError'
    this.code = code
  }
}

/** Where in a config file a problem is. */
export interface ConfigLocation {
  file: string
  line?: number
  section?: string
  key?: string
}

/** A problem in a config file: the message starts with `file:line [section] key:`. */
export class ConfigError extends SmapError {
  readonly file: string
  readonly line: number | undefined
  readonly section: string | undefined
  readonly key: string | undefined
  readonly problem: string
  constructor(code: string, where: ConfigLocation, problem: string, options?: { cause?: unknown }) {
    super(code, `${formatLocation(where)}: ${problem}`, options)
    this.name = 'ConfigError'
    this.file = where.file
    this.line = where.line
    this.section = where.section
    this.key = where.key
    this.problem = problem
  }
}

/** `conf.ini:12 [/meter] Rate` — the prefix of every config message. */
export function formatLocation({ file, line, section, key }: ConfigLocation): string {
  let out = line === undefined ? file : `${file}:${line}`
  if (section !== undefined) out += ` [${section}]`
  if (key !== undefined) out += ` ${key}`
  return out
}

/** Several config problems at once (e.g. every bad option of a driver section). */
export class ConfigErrors extends SmapError {
  readonly errors: ConfigError[]
  constructor(errors: ConfigError[]) {
    super('SMAP_CONFIG_INVALID', errors.map((e) => e.message).join('\n'))
    this.name = 'ConfigErrors'
    this.errors = errors
  }
}
