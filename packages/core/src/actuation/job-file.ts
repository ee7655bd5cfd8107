import { readFile, rename } from 'node:fs/promises'
import { writeFileAtomic } from '../atomic-file.js'

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

  #write(text: string): Promise<void> {
    return writeFileAtomic(this.file, text)
  }
}
