import { randomUUID } from 'node:crypto'
import { mkdir, open, readFile, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * The jobs file: every job, replaced atomically and fsynced on each change
 * (write a temporary file, fsync it, rename it over, fsync the folder), so a
 * kill -9 or a power cut leaves either the old list or the new one.
 */
export class JobFile<Job> {
  readonly file: string
  #chain: Promise<void> = Promise.resolve()

  constructor(file: string) {
    this.file = file
  }

  /** The saved jobs, or none; a damaged file is moved aside (`jobs.json.damaged-...`) and reported. */
  async read(): Promise<{ jobs: Job[]; damaged?: string }> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { jobs: [] }
      throw err
    }
    try {
      const parsed = JSON.parse(text) as { jobs?: unknown }
      if (!Array.isArray(parsed.jobs)) throw new Error('no "jobs" list')
      return { jobs: parsed.jobs as Job[] }
    } catch (err) {
      const aside = `${this.file}.damaged-${Date.now()}`
      await rename(this.file, aside)
      return { jobs: [], damaged: `${this.file} could not be read (${(err as Error).message}); it was moved to ${aside} and the source starts with no jobs` }
    }
  }

  /** Saves `jobs`; writes are one at a time, in the order asked. */
  save(jobs: readonly Job[]): Promise<void> {
    const text = JSON.stringify({ jobs })
    const run = this.#chain.then(() => this.#write(text))
    this.#chain = run.catch(() => {})
    return run
  }

  async #write(text: string): Promise<void> {
    const dir = dirname(this.file)
    await mkdir(dir, { recursive: true })
    const tmp = `${this.file}.${randomUUID().slice(0, 8)}.tmp`
    const f = await open(tmp, 'w')
    try {
      await f.writeFile(text)
      await f.sync()
    } finally {
      await f.close()
    }
    await rename(tmp, this.file)
    const d = await open(dir, 'r')
    try {
      await d.sync()
    } finally {
      await d.close()
    }
  }
}
