/** Where the library reports what it does; defaults to the console. */
export interface Logger {
  info(message: string): void
  warn(message: string): void
  error(message: string, error?: unknown): void
}

/** Logs to stderr with a prefix such as `[smap]`; errors print their stack. */
export function createConsoleLogger(prefix = '[smap]'): Logger {
  return {
    info: (message) => console.error(`${prefix} ${message}`),
    warn: (message) => console.error(`${prefix} warning: ${message}`),
    error: (message, error) => {
      const detail = error instanceof Error ? `\n${error.stack ?? error.message}` : error === undefined ? '' : `\n${String(error)}`
      console.error(`${prefix} error: ${message}${detail}`)
    },
  }
}
