import { open, rename, rm } from 'node:fs/promises'
import Datastore from 'nedb-promises'

// NeDB, used the way its failure modes demand (measured when durable reporting was built):
// - autocompaction stays off (a failed one is an unhandled rejection); we
//   compact ourselves, with error handling, or delete whole files instead;
// - a torn last line (kill -9 mid-append) must not stop a restart, so the
//   corruption threshold is lifted;
// - every write is an append without fsync; `fsync` opts into one per write.

type Raw = ReturnType<typeof Datastore.create>
// the @seald-io/nedb datastore under nedb-promises' wrapper
interface Original {
  getAllData(): unknown[]
  compactDatafileAsync(): Promise<void>
  filename: string
  persistence: { filename: string; persistCachedDatabaseAsync: () => Promise<void> }
}

/** A NeDB file of documents of one shape, keyed by `_id`. */
export class Store<T extends { _id: string }> {
  #filename: string
  readonly #ds: Raw

  private constructor(filename: string, ds: Raw) {
    this.#filename = filename
    this.#ds = ds
  }

  get filename(): string {
    return this.#filename
  }

  /**
   * Opens (or creates) the file and loads it. NeDB rewrites a file when it
   * loads it, which needs as much free space as the file takes; `rewrite:
   * false` loads it as it is (on a full disk).
   */
  static async open<T extends { _id: string }>(filename: string, options: { rewrite?: boolean } = {}): Promise<Store<T>> {
    const ds = Datastore.create({ filename, corruptAlertThreshold: 1, autoload: false })
    if (options.rewrite === false) {
      const persistence = (ds as unknown as { __original: Original }).__original.persistence
      const rewrite = persistence.persistCachedDatabaseAsync
      persistence.persistCachedDatabaseAsync = async () => {}
      try {
        await ds.load()
      } finally {
        persistence.persistCachedDatabaseAsync = rewrite
      }
    } else await ds.load()
    return new Store<T>(filename, ds)
  }

  get #original(): Original {
    return (this.#ds as unknown as { __original: Original }).__original
  }

  /** Every document as loaded, without copying (read-only: for a big load). */
  loaded(): readonly unknown[] {
    return this.#original.getAllData()
  }

  async all(): Promise<T[]> {
    return (await this.#ds.find({})) as unknown as T[]
  }

  /** Documents by `field` ascending, at most `limit`. */
  async sorted(field: keyof T & string, limit?: number): Promise<T[]> {
    const cursor = this.#ds.find({}).sort({ [field]: 1 })
    return (await (limit === undefined ? cursor : cursor.limit(limit))) as unknown as T[]
  }

  async get(id: string): Promise<T | undefined> {
    return ((await this.#ds.findOne({ _id: id })) as unknown as T | null) ?? undefined
  }

  async count(): Promise<number> {
    return this.#ds.count({})
  }

  async insert(docs: T | T[]): Promise<void> {
    await this.#ds.insert(docs as never)
  }

  /** Writes `doc`, replacing one with the same `_id`. */
  async put(doc: T): Promise<void> {
    await this.#ds.update({ _id: doc._id }, doc as never, { upsert: true })
  }

  async delete(...ids: string[]): Promise<void> {
    if (ids.length === 1) await this.#ds.remove({ _id: ids[0] }, {})
    else if (ids.length > 1) await this.#ds.remove({ _id: { $in: ids } }, { multi: true })
  }

  /** Rewrites the file without its dead lines; an error is returned, never thrown unhandled. */
  async compact(): Promise<Error | undefined> {
    try {
      // nedb-promises' own wrapper of this misbehaves like its stopAutocompaction(); call @seald-io/nedb's
      await this.#original.compactDatafileAsync()
      return undefined
    } catch (err) {
      return err as Error
    }
  }

  /** Flushes the file to disk (the opt-in fsync mode). */
  async fsync(): Promise<void> {
    const fh = await open(this.filename, 'r+')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
  }

  /**
   * Renames the file over `target` (an atomic replace: a crash leaves the old
   * file or this one, whole) and goes on writing there. No write may be in
   * progress.
   */
  async moveTo(target: string): Promise<void> {
    await rename(this.#filename, target)
    this.#filename = target
    // NeDB has no rename; both of its copies of the name are where its appends go
    this.#original.filename = target
    this.#original.persistence.filename = target
  }

  /** Deletes the file. */
  async removeFile(): Promise<void> {
    await rm(this.filename, { force: true })
  }
}
