import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { Store } from './store.js'
import { smapError } from '../errors.js'
import { isUuid } from '../tree/identity.js'
import { normalizeReport, parseReport, reportObject, type LocationPolicy, type ReportConfig } from './subscription.js'

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

  /**
   * The saved subscriptions, each checked as a new one would be; a record that
   * fails is refused (and kept in the file) with its reason, and the rest load.
   */
  async all(policy: LocationPolicy): Promise<{ configs: ReportConfig[]; refused: string[] }> {
    const configs: ReportConfig[] = []
    const refused: string[] = []
    if (!this.exists) return { configs, refused }
    for (const doc of await (await this.#open()).all()) {
      try {
        configs.push(checkSaved(doc, policy))
      } catch (err) {
        refused.push(`${this.file}: subscription ${JSON.stringify(String(doc._id)).slice(0, 60)} is not loaded: ${(err as Error).message}; its outbox, if any, is kept under reports/; fix or remove the record and restart`)
      }
    }
    return { configs, refused }
  }

  /** Resolves once the subscription is on disk. */
  put(config: ReportConfig): Promise<void> {
    return this.#serially((store) => store.put({ _id: config.uuid, config }))
  }

  delete(uuid: string): Promise<void> {
    return this.#serially((store) => store.delete(uuid))
  }
}

/** A saved record as a subscription, by the rules a new one must pass. */
function checkSaved(doc: SubscriptionDoc, policy: LocationPolicy): ReportConfig {
  const config = (doc as { config?: unknown }).config
  if (typeof config !== 'object' || config === null) throw smapError('SMAP_REPORT_INVALID', 'the record has no subscription in it')
  const c = config as ReportConfig
  if (typeof c.uuid !== 'string' || !isUuid(c.uuid) || c.uuid !== doc._id) throw smapError('SMAP_REPORT_INVALID', `its uuid ${JSON.stringify(c.uuid)} is not the record's`)
  return normalizeReport(parseReport(reportObject(c)), c.uuid, policy)
}
