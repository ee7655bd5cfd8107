import { readFile, rename } from 'node:fs/promises'
import { writeFileAtomic } from '../atomic-file.js'

/** One driver an operator turned off: when, and by whom. */
export interface DisabledEntry {
  /** Unix ms. */
  since: number
  /** Who, as `via:name` (e.g. `loopback:127.0.0.1`, `token:ops`). */
  by: string
}

/**
 * The drivers an operator disabled, by the path they are attached at, kept in
 * a small JSON file in the data directory (`disabled-drivers.json`), replaced
 * atomically and fsynced on each change. An entry whose driver is no longer
 * in the config is kept but does nothing.
 */
export class DisabledFile {
  readonly file: string
  #entries: Record<string, DisabledEntry> = {}
  #chain: Promise<void> = Promise.resolve()

  constructor(file: string) {
    this.file = file
  }

  /** Reads the file; a damaged one is moved aside (`disabled-drivers.json.damaged-...`) and the message says so. */
  async read(): Promise<{ entries: Record<string, DisabledEntry>; damaged?: string }> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: (this.#entries = {}) }
      throw err
    }
    try {
      const parsed = JSON.parse(text) as { disabled?: unknown }
      if (typeof parsed.disabled !== 'object' || parsed.disabled === null || Array.isArray(parsed.disabled)) throw new Error('no "disabled" object')
      this.#entries = parsed.disabled as Record<string, DisabledEntry>
      return { entries: this.#entries }
    } catch (err) {
      const aside = `${this.file}.damaged-${Date.now()}`
      await rename(this.file, aside)
      this.#entries = {}
      return { entries: {}, damaged: `${this.file} could not be read (${(err as Error).message}); it was moved to ${aside} and every driver starts enabled` }
    }
  }

  /** The entry of the driver at `path`, if it is disabled. */
  get(path: string): DisabledEntry | undefined {
    return Object.hasOwn(this.#entries, path) ? this.#entries[path] : undefined
  }

  /** Marks the driver at `path` disabled (an entry) or enabled (none), and saves; writes are one at a time, in the order asked. */
  set(path: string, entry: DisabledEntry | undefined): Promise<void> {
    const run = this.#chain.then(async () => {
      const next = { ...this.#entries }
      if (entry) next[path] = entry
      else delete next[path]
      await writeFileAtomic(this.file, `${JSON.stringify({ disabled: next }, null, 2)}\n`)
      this.#entries = next
    })
    this.#chain = run.catch(() => {})
    return run
  }
}
