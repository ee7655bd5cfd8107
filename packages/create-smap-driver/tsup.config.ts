import { readFileSync } from 'node:fs'
import { packageConfig } from '../../tsup.base.js'

// The scaffold writes @smap/sdk, @smap/testing and @smap/cli ranges from the versions built beside
// it; the tarball has no workspace to read them from at run time, so they are compiled in.
const version = (dir: string): string =>
  JSON.stringify((JSON.parse(readFileSync(new URL(`../${dir}/package.json`, import.meta.url), 'utf8')) as { version: string }).version)

export default packageConfig({
  define: {
    __SMAP_SDK_VERSION__: version('sdk'),
    __SMAP_TESTING_VERSION__: version('testing'),
    __SMAP_CLI_VERSION__: version('cli'),
  },
})
