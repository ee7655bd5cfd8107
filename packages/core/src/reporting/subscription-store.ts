import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Store } from './store.js'
import type { ReportConfig } from './subscription.js'

interface SubscriptionDoc {
  _id: string
  config: ReportConfig
}

/** Subscriptions made over HTTP, kept in `subscriptions.db` so they survive a restart; one write at a time. */
export class SubscriptionStore {
  readonly file: string
  // the file is opened once, however many requests ask at the same moment
  #store: Promise<Store<SubscriptionDoc>> | undefined
  #writes: Promise<unknown> = Promise.resolve()

  constructor(dataDir: string) {
    this.file = join(dataDir, 'subscriptions.db')
  }

  /** Whether an earlier run left any. */
  get exists(): boolean {
    return existsSync(this.file)
  }

  #open(): Promise<Store<SubscriptionDoc>> {
    this.#store ??= Store.open<SubscriptionDoc>(this.file)
    return this.#store
  }

  #serially<T>(work: (store: Store<SubscriptionDoc>) => Promise<T>): Promise<T> {
    const run = this.#writes.then(async () => work(await this.#open()))
    this.#writes = run.catch(() => undefined)
    return run
  }

  async all(): Promise<ReportConfig[]> {
    return this.exists ? (await (await this.#open()).all()).map((d) => d.config) : []
  }

  /** Resolves once the subscription is on disk. */
  put(config: ReportConfig): Promise<void> {
    return this.#serially((store) => store.put({ _id: config.uuid, config }))
  }

  delete(uuid: string): Promise<void> {
    return this.#serially((store) => store.delete(uuid))
  }
}
