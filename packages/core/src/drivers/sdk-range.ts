import semver from 'semver'
import { SDK_VERSION } from '@smap/sdk'
import { promisedRange } from './sdk-compat.js'

/** How a driver's declared `@smap/sdk` range fits the driver contract's compatibility promise. */
export interface SdkRangeJudgement {
  /**
   * `follows`: the promise's form (`>=0.N.0 <1.0.0` while 0.x, `^N.M.0` from 1.0) and includes the SDK;
   * `narrow`: includes the SDK but shuts out later releases of its line (e.g. `^0.1.0`);
   * `excludes`: does not include the SDK (the host refuses the driver);
   * `invalid`: not a semver range.
   */
  verdict: 'follows' | 'narrow' | 'excludes' | 'invalid'
  /** The range the promise gives a driver built with this SDK, e.g. `>=0.1.0 <1.0.0`. */
  promised: string
}

/**
 * Judges a driver's `@smap/sdk` peer range against the promise and the SDK
 * `sdkVersion` (default the one this host runs), for `smap check-driver`.
 * @example judgeSdkRange('^0.1.0', '0.1.0') // { verdict: 'narrow', promised: '>=0.1.0 <1.0.0' }
 */
export function judgeSdkRange(range: string, sdkVersion: string = SDK_VERSION): SdkRangeJudgement {
  const promised = promisedRange(sdkVersion)
  const written = range.trim()
  // pnpm turns workspace:^ into ^x.y.z when it publishes, narrower than the promise
  if (written.startsWith('workspace:')) return { verdict: 'narrow', promised }
  if (semver.validRange(written) === null) return { verdict: 'invalid', promised }
  if (!semver.satisfies(sdkVersion, written, { includePrerelease: true })) return { verdict: 'excludes', promised }
  const zero = /^>=\s*0\.(\d+)\.0\s+<\s*1\.0\.0$/.exec(written)
  const caret = /^\^([1-9]\d*)\.(\d+)\.0$/.exec(written)
  return { verdict: zero !== null || caret !== null ? 'follows' : 'narrow', promised }
}
