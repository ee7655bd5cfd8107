import { rm, stat } from 'node:fs/promises'
import type { Segment, SegmentDoc } from './chunk.js'
import { Store } from './store.js'

/**
 * The segment files of an outbox, oldest first, and the one being appended
 * to. A closed segment none of whose chunks is warm lets go of its store, so
 * what NeDB holds of it leaves memory; it is loaded again when needed.
 */
export class Segments {
  readonly list: Segment[] = []
  active: Segment | undefined
  readonly #loading = new WeakMap<Segment, Promise<Store<SegmentDoc>>>()

  includes(seg: Segment): boolean {
    return this.list.includes(seg)
  }

  replace(seg: Segment, next: Segment): void {
    const i = this.list.indexOf(seg)
    if (i !== -1) this.list[i] = next
  }

  /** A segment's store, loaded again (as it is: nothing went wrong with it since) if it was let go. */
  store(seg: Segment): Promise<Store<SegmentDoc>> {
    if (seg.ds) return Promise.resolve(seg.ds)
    let loading = this.#loading.get(seg)
    if (!loading) {
      loading = Store.open<SegmentDoc>(seg.file, { rewrite: false })
        .then((ds) => (seg.ds ??= ds))
        .finally(() => this.#loading.delete(seg))
      this.#loading.set(seg, loading)
    }
    return loading
  }

  /** Lets go of the stores of closed segments with no warm chunk, but the oldest's (delivery reads it next). */
  letGo(): void {
    for (const [k, seg] of this.list.entries()) {
      if (k > 0 && seg.ds && seg.sealed && !seg.damaged && !seg.pinned && seg.warm === 0) seg.ds = undefined
    }
  }

  /** Forgets a segment and deletes its file. */
  async delete(seg: Segment): Promise<void> {
    const i = this.list.indexOf(seg)
    if (i !== -1) this.list.splice(i, 1)
    if (this.active === seg) this.active = undefined
    seg.ds = undefined
    await rm(seg.file, { force: true })
    await rm(`${seg.file}~`, { force: true }) // a rewrite NeDB did not finish would come back as the file
  }

  /** Bytes of the files on disk. */
  async bytes(): Promise<number> {
    let total = 0
    for (const seg of this.list) total += await stat(seg.file).then((s) => s.size, () => 0)
    return total
  }
}
