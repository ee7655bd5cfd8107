import type { CollectionObject, Metadata } from '@smap/sdk'
import { checkDescription, cloneMetadata } from './metadata.js'

/** A node of the tree that holds other resources; made by `addCollection`. */
export class Collection {
  readonly type = 'Collection' as const
  readonly path: string
  #description: string | undefined
  /** @internal the metadata object itself; read it with `metadata`. */
  readonly _metadata: Metadata = {}
  /** @internal names of the children, in the order they were added. */
  readonly _contents: string[] = []
  /** @internal made only as the parent of something else, not asked for by name. */
  _implicit: boolean
  /** @internal who made it (a driver instance), an opaque tag the tree only keeps. */
  _owner: object | undefined
  /** @internal bumped when metadata or description change, so reports resend the full object. */
  _metaVersion = 1

  /** @internal use `addCollection`. */
  constructor(path: string, implicit: boolean, description?: string) {
    this.path = path
    this._implicit = implicit
    this.#description = checkDescription(description, path)
  }

  /** Names of the resources directly below, in the order they were added. */
  get contents(): string[] {
    return [...this._contents]
  }

  /** `Description`; setting it checks it is a string (or undefined) and resends the full object to subscribers. */
  get description(): string | undefined {
    return this.#description
  }

  set description(value: string | undefined) {
    this.#description = checkDescription(value, this.path)
    this._metaVersion++
  }

  /** A copy of the collection's metadata. */
  get metadata(): Metadata {
    return cloneMetadata(this._metadata)
  }

  /** The object served at `/data/PATH`. */
  toJSON(): CollectionObject {
    const out: CollectionObject = { Contents: [...this._contents] }
    if (this.description !== undefined) out.Description = this.description
    if (Object.keys(this._metadata).length > 0) out.Metadata = cloneMetadata(this._metadata)
    return out
  }
}
