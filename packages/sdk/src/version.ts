import { createRequire } from 'node:module'

/**
 * The version of @smap/sdk, read from its package.json (one level above both
 * `src/` and `dist/`), so a release bumped by Changesets reports itself
 * without an edit here. The driver host checks drivers' declared ranges against it.
 */
export const SDK_VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version
