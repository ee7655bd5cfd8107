import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Store } from './store.js'
import type { ReportConfig } from './subscription.js'

interface SubscriptionDoc {
  _id: string
  config: ReportConfig
}

/** Subscriptions made over HTTP, kept in `subscriptions.db` so they survive a restart. */
export class SubscriptionStore {
  readonly file: string
  #store: Store<SubscriptionDoc> | undefined

  constructor(dataDir: string) {
    this.file = join(dataDir, 'subscriptions.db')
  }

  /** Whether an earlier run left any. */
  get exists(): boolean {
    return existsSync(this.file)
  }

  async #open(): Promise<Store<SubscriptionDoc>> {
    this.#store ??= await Store.open<SubscriptionDoc>(this.file)
    return this.#store
  }

  async all(): Promise<ReportConfig[]> {
    return this.exists ? (await (await this.#open()).all()).map((d) => d.config) : []
  }

  async put(config: ReportConfig): Promise<void> {
    await (await this.#open()).put({ _id: config.uuid, config })
  }

  async delete(uuid: string): Promise<void> {
    await (await this.#open()).delete(uuid)
  }
}
