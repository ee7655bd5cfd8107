import { open, rm } from 'node:fs/promises'
import Datastore from 'nedb-promises'

// NeDB, used the way its failure modes demand (measured, see issue 4):
// - autocompaction stays off (a failed one is an unhandled rejection); we
//   compact ourselves, with error handling, or delete whole files instead;
// - a torn last line (kill -9 mid-append) must not stop a restart, so the
//   corruption threshold is lifted and we count what was skipped ourselves;
// - every write is an append without fsync; `fsync` opts into one per write.

/** A NeDB datastore with our settings. */
export type Store = ReturnType<typeof Datastore.create>

export async function openStore(filename: string): Promise<Store> {
  const ds = Datastore.create({ filename, corruptAlertThreshold: 1, autoload: false })
  await ds.load()
  return ds
}

/** Flushes a store's file to disk (the opt-in fsync mode). */
export async function fsyncFile(filename: string): Promise<void> {
  const fh = await open(filename, 'r+')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}

/** Rewrites a store's file without its dead lines; errors are returned, never thrown unhandled. */
export async function compactStore(ds: Store): Promise<Error | undefined> {
  try {
    // nedb-promises' own wrapper of this misbehaves like its stopAutocompaction(); call @seald-io/nedb's
    await (ds as unknown as { __original: { compactDatafileAsync(): Promise<void> } }).__original.compactDatafileAsync()
    return undefined
  } catch (err) {
    return err as Error
  }
}

export async function removeFile(filename: string): Promise<void> {
  await rm(filename, { force: true })
}
