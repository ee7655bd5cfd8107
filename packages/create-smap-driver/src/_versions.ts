import { readFileSync } from 'node:fs'

// tsup replaces these with the versions of the workspace packages create-smap-driver is built
// beside (tsup.config.ts), so the published tarball knows them without the workspace.
declare const __SMAP_SDK_VERSION__: string | undefined
declare const __SMAP_TESTING_VERSION__: string | undefined
declare const __SMAP_CLI_VERSION__: string | undefined

/** Run from source (tests): read the workspace package's own package.json. */
function fromWorkspace(dir: string): string {
  const file = new URL(`../../${dir}/package.json`, import.meta.url)
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
}

/** The versions of @smap/sdk, @smap/testing and @smap/cli this create-smap-driver was built with. */
export const BUILT_WITH: { readonly sdk: string; readonly testing: string; readonly cli: string } = {
  sdk: typeof __SMAP_SDK_VERSION__ === 'string' ? __SMAP_SDK_VERSION__ : fromWorkspace('sdk'),
  testing: typeof __SMAP_TESTING_VERSION__ === 'string' ? __SMAP_TESTING_VERSION__ : fromWorkspace('testing'),
  cli: typeof __SMAP_CLI_VERSION__ === 'string' ? __SMAP_CLI_VERSION__ : fromWorkspace('cli'),
}

/**
 * The range a driver built against `version` declares, following the driver contract's
 * compatibility promise: while 0.x, all of 0.x is one line (`0.3.1` → `>=0.3.0 <1.0.0`);
 * from 1.0 each major is one (`1.4.2` → `^1.4.0`).
 */
export function lineRange(version: string): string {
  const m = /^(\d+)\.(\d+)\.\d+(?:[-+].*)?$/.exec(version)
  if (!m) throw new Error(`create-smap-driver was built with an SDK version it cannot read: "${version}"`)
  const [major, minor] = [Number(m[1]), Number(m[2])]
  return major === 0 ? `>=0.${minor}.0 <1.0.0` : `^${major}.${minor}.0`
}
