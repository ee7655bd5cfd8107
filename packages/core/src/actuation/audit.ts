import { createReadStream } from 'node:fs'
import { appendFile, mkdir, rename, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Principal } from '@smap/sdk'
import type { Logger } from '../logger.js'

/** One write attempt, as the audit log keeps it. */
export interface AuditEntry {
  /** Unix ms. */
  time: number
  /** Who asked; `unauthenticated` for a request refused for want of credentials. */
  principal: Principal | { via: 'unauthenticated'; name: string; address?: string }
  path: string
  /** The state asked for, as given. */
  state: unknown
  /** `ok`, or the code of the refusal (`SMAP_STATE_INVALID`, `forbidden`, ...). */
  result: string
  /** The HTTP status it was (or would be) answered with. */
  status: number
  /** The state the device reached, when it did. */
  reached?: number | string
  /** Why it did not happen. */
  message?: string
  /** The job it was an action of. */
  job?: string
  /** `driver` for a driver control (`state` is then `restart`, `disabled` or `enabled`, and `path` the driver's); absent for a write. */
  kind?: 'driver'
}

/** Bytes the current audit file may grow to before it becomes `audit.1.jsonl` (the one before is dropped). */
export const DEFAULT_AUDIT_BYTES = 1024 * 1024
const LATEST = 50

/**
 * The audit log: every write attempt appended as a JSON line to
 * `audit.jsonl` in the data directory, bounded by rotating it into
 * `audit.1.jsonl` at `maxBytes`, so the two files together hold at most
 * twice that. The latest entries are kept in memory for `/status`.
 */
export class AuditLog {
  readonly file: string
  readonly #maxBytes: number
  readonly #logger: Logger
  #latest: AuditEntry[] = []
  #size: number | undefined
  #chain: Promise<void> = Promise.resolve()
  #opened: Promise<void> | undefined
  #failures = 0

  constructor(file: string, logger: Logger, maxBytes = DEFAULT_AUDIT_BYTES) {
    this.file = file
    this.#logger = logger
    this.#maxBytes = maxBytes
  }

  /** Reads the latest entries of an earlier run, so `/status` shows them after a restart. */
  open(): Promise<void> {
    this.#opened ??= this.#readTail()
    return this.#opened
  }

  async #readTail(): Promise<void> {
    try {
      this.#size = (await stat(this.file)).size
    } catch {
      this.#size = 0
      return
    }
    const start = Math.max(0, this.#size - 64 * 1024)
    let text = ''
    for await (const chunk of createReadStream(this.file, { start, encoding: 'utf8' })) text += chunk as string
    const lines = text.split('\n').slice(start > 0 ? 1 : 0)
    const entries: AuditEntry[] = []
    for (const line of lines) {
      if (line.trim() === '') continue
      try {
        entries.push(JSON.parse(line) as AuditEntry)
      } catch {
        // a line cut by a crash: the rest still count
      }
    }
    this.#latest = entries.slice(-LATEST)
  }

  /** Appends one attempt; resolves once it is on disk (a failure to write is logged and counted, never thrown). */
  record(entry: AuditEntry): Promise<void> {
    this.#latest.push(entry)
    if (this.#latest.length > LATEST) this.#latest.shift()
    const line = `${JSON.stringify(entry)}\n`
    const run = this.#chain.then(() => this.#append(line))
    this.#chain = run
    return run
  }

  async #append(line: string): Promise<void> {
    try {
      await this.open()
      const bytes = Buffer.byteLength(line)
      if ((this.#size ?? 0) > 0 && (this.#size ?? 0) + bytes > this.#maxBytes) {
        await rename(this.file, this.file.replace(/\.jsonl$/, '.1.jsonl'))
        this.#size = 0
      }
      await mkdir(dirname(this.file), { recursive: true })
      await appendFile(this.file, line)
      this.#size = (this.#size ?? 0) + bytes
    } catch (err) {
      this.#failures++
      this.#logger.error(`cannot append to the audit log ${this.file}; the attempt is kept in memory only`, err)
    }
  }

  /** The latest attempts, oldest first, and how many could not be written. */
  status(): { latest: AuditEntry[]; failures: number } {
    return { latest: [...this.#latest], failures: this.#failures }
  }

  /** Resolves when every entry recorded so far is written. */
  flushed(): Promise<void> {
    return this.#chain
  }
}
