// How `smap dev` shows what a driver does: one line per reading, state
// change, log line or error, coloured only on a terminal that wants colour.

type Paint = (text: string) => string

interface Palette {
  dim: Paint
  bold: Paint
  path: Paint
  good: Paint
  warn: Paint
  bad: Paint
}

const ansi = (open: number, close: number): Paint => (text) => `\x1b[${open}m${text}\x1b[${close}m`
const plain: Paint = (text) => text

function palette(color: boolean): Palette {
  if (!color) return { dim: plain, bold: plain, path: plain, good: plain, warn: plain, bad: plain }
  return { dim: ansi(2, 22), bold: ansi(1, 22), path: ansi(36, 39), good: ansi(32, 39), warn: ansi(33, 39), bad: ansi(31, 39) }
}

const two = (n: number): string => String(n).padStart(2, '0')

/** `14:03:07.120` for a time today, `2024-01-31 14:03:07.120` otherwise (local time). */
export function formatTime(time: number, now = Date.now()): string {
  const d = new Date(time)
  const clock = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`
  if (new Date(now).toDateString() === d.toDateString()) return clock
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${clock}`
}

/** Where `smap dev` writes, and how. */
export interface DevOutputOptions {
  color: boolean
  /** Hide readings (`--quiet`); state changes, logs and errors still show. */
  quiet?: boolean
  out?: (line: string) => void
  err?: (line: string) => void
  now?: () => number
  /** Folders whose stack frames are left out of errors (the host's own code), besides Node's and node_modules. */
  hideFrames?: string[]
}

/** The lines `smap dev` prints. */
export interface DevOutput {
  reading(path: string, value: unknown, unit: string, time: number): void
  state(path: string, state: string): void
  info(message: string): void
  warn(message: string): void
  /** An error: its message, and for an error thrown by code (not a SmapError) the stack without Node's own frames. */
  error(message: string, error?: unknown): void
}

const GOOD_STATES = new Set(['running', 'ready'])
const BAD_STATES = new Set(['backoff', 'failed'])

/** Makes the printer. */
export function devOutput(options: DevOutputOptions): DevOutput {
  const p = palette(options.color)
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`))
  const err = options.err ?? ((line: string) => process.stderr.write(`${line}\n`))
  const now = options.now ?? Date.now
  const stamp = (): string => p.dim(formatTime(now(), now()))
  return {
    reading(path, value, unit, time) {
      if (options.quiet) return
      const shown = typeof value === 'string' ? JSON.stringify(value) : String(value)
      out(`${p.dim(formatTime(time, now()))}  ${p.path(path)}  ${p.bold(shown)} ${unit}`)
    },
    state(path, state) {
      const paint = GOOD_STATES.has(state) ? p.good : BAD_STATES.has(state) ? p.bad : p.dim
      out(`${stamp()}  ${p.path(path)}  state ${paint(state)}`)
    },
    info(message) {
      out(`${stamp()}  ${message}`)
    },
    warn(message) {
      err(`${stamp()}  ${p.warn('warning')} ${message}`)
    },
    error(message, error) {
      err(`${stamp()}  ${p.bad('error')} ${message}`)
      const detail = errorDetail(error, options.hideFrames ?? [])
      if (detail) err(p.dim(detail))
    },
  }
}

/** The part of an error worth showing under its line: its message, and for a throw in code its stack minus Node's internals and dependencies. */
function errorDetail(error: unknown, hidden: string[]): string | undefined {
  if (error === undefined) return undefined
  if (!(error instanceof Error)) return `  ${String(error)}`
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && code.startsWith('SMAP_')) return `  ${error.message}`
  const lines = (error.stack ?? '').split('\n')
  // frames of the author's code: a file, not Node's, a dependency's or the host's
  const frames = lines.filter((l) => /^\s+at .*(?:\/|file:).*:\d+:\d+\)?$/.test(l) && !l.includes('node:') && !l.includes('/node_modules/') && !hidden.some((d) => l.includes(d)))
  const head = `  ${error.name}: ${error.message}`
  return frames.length > 0 ? [head, ...frames.map((f) => `  ${f.trim()}`)].join('\n') : head
}
