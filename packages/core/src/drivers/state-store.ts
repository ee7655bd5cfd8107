import { readFileSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { DriverStateStore } from '@smap/sdk'
import type { Clock, ClockTimer } from '../clock.js'
import type { DriverLogger } from '@smap/sdk'

/** Where a driver instance's state lives between runs. */
export interface StateBackend {
  /** What was saved last, or undefined; a problem reading it is logged, never thrown. */
  read(logger: DriverLogger): Record<string, unknown> | undefined
  write(state: Record<string, unknown>): Promise<void>
  /** Names it in log lines. */
  readonly where: string
}

/** A JSON file, replaced atomically on every save. */
export function fileStateBackend(file: string): StateBackend {
  return {
    where: file,
    read(logger) {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') logger.warn(`cannot read its saved state ${file} (${(err as Error).message}); starting without it`)
        return undefined
      }
    },
    async write(state) {
      await mkdir(dirname(file), { recursive: true })
      await writeFile(`${file}.tmp`, JSON.stringify(state))
      await rename(`${file}.tmp`, file)
    },
  }
}

/** Memory only, seeded with `initial` (the test harness's). */
export function memoryStateBackend(initial: Record<string, unknown> = {}): StateBackend & { saved: Record<string, unknown> } {
  const backend = {
    where: 'memory',
    saved: structuredClone(initial),
    read: () => structuredClone(backend.saved),
    async write(state: Record<string, unknown>) {
      backend.saved = structuredClone(state)
    },
  }
  return backend
}

/**
 * `ctx.state`: read on first use, saved a second after a change, and only
 * once the readings added before the change are safe in the outboxes (`beforeSave`),
 * so a crash can repeat work but never skip any.
 */
export class StateKeeper {
  readonly #backend: StateBackend
  readonly #clock: Clock
  readonly #logger: DriverLogger
  readonly #beforeSave: () => Promise<void>
  #values: Map<string, unknown> | undefined
  #timer: ClockTimer | undefined
  #saving: Promise<void> = Promise.resolve()

  constructor(backend: StateBackend, clock: Clock, logger: DriverLogger, beforeSave: () => Promise<void>) {
    this.#backend = backend
    this.#clock = clock
    this.#logger = logger
    this.#beforeSave = beforeSave
  }

  /** What the driver sees as `ctx.state`. */
  readonly store: DriverStateStore = {
    get: <T>(key: string) => structuredClone(this.#load().get(key)) as T | undefined,
    set: (key: string, value: unknown) => {
      this.#load().set(key, JSON.parse(JSON.stringify(value)) as unknown)
      this.#timer ??= this.#clock.setTimer(() => {
        this.#timer = undefined
        return this.save()
      }, 1000)
    },
  }

  /** A copy of the current values, saved or not. */
  snapshot(): Record<string, unknown> {
    return structuredClone(Object.fromEntries(this.#load()))
  }

  #load(): Map<string, unknown> {
    this.#values ??= new Map(Object.entries(this.#backend.read(this.#logger) ?? {}))
    return this.#values
  }

  /** Writes the state now (after the readings before it); a failure is logged and the state kept for the next change. */
  save(): Promise<void> {
    this.#saving = this.#saving.then(async () => {
      if (!this.#values) return
      try {
        await this.#beforeSave()
        await this.#backend.write(Object.fromEntries(this.#values))
      } catch (err) {
        this.#logger.error(`cannot save its state to ${this.#backend.where}; it is kept in memory and saved again on the next change`, err)
      }
    })
    return this.#saving
  }

  /** Saves what a pending timer would have saved, and waits for every save. */
  async close(): Promise<void> {
    if (this.#timer) {
      this.#timer.cancel()
      this.#timer = undefined
      await this.save()
    }
    await this.#saving
  }
}
