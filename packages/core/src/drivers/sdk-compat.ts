import semver from 'semver'
import { SDK_VERSION } from '@smap/sdk'

/**
 * The driver contract's compatibility promise, as the host applies it.
 *
 * SDK releases within one contract line only add to the contract. While
 * @smap/sdk is 0.x, all of 0.x is one line; from 1.0, each major is a line.
 * So a driver built with SDK 0.N loads under every SDK 0.M with M >= N, even
 * when the range it declares (an early scaffold wrote `^0.1.0`) leaves 0.M out.
 */

/** How a driver's declared @smap/sdk range meets the running SDK. */
export type SdkCompatibility =
  /** The range includes the running SDK. */
  | { ok: true; kind: 'in-range' }
  /** The range leaves the running SDK out, but the promise covers it: built for an older SDK of the same line. */
  | { ok: true; kind: 'promised'; builtFor: string }
  /** The driver needs a newer SDK than this smap has. */
  | { ok: false; kind: 'needs-newer'; needs: string }
  /** The driver is built for another contract line (an older major, or one this smap does not know). */
  | { ok: false; kind: 'other-line'; builtFor: string }
  /** No range is declared, or it is not a semver range (a `workspace:` one, say): nothing to check. */
  | { ok: true; kind: 'unchecked' }

/** The contract line of a version: 0 for every 0.x, else its major. */
export function contractLine(version: string): number {
  return semver.major(version)
}

/** Applies the promise to a driver's declared `@smap/sdk` range and the running SDK's version. */
export function sdkCompatibility(range: string | undefined, sdkVersion: string): SdkCompatibility {
  if (range === undefined || !semver.validRange(range)) return { ok: true, kind: 'unchecked' }
  if (semver.satisfies(sdkVersion, range, { includePrerelease: true })) return { ok: true, kind: 'in-range' }
  const min = semver.minVersion(range)
  if (min === null) return { ok: true, kind: 'unchecked' }
  const builtFor = `${min.major}.${min.minor}.${min.patch}`
  if (semver.gt(builtFor, sdkVersion)) return { ok: false, kind: 'needs-newer', needs: `>=${builtFor}` }
  if (contractLine(builtFor) === contractLine(sdkVersion)) return { ok: true, kind: 'promised', builtFor }
  return { ok: false, kind: 'other-line', builtFor }
}

/** The peer range a driver built with `sdkVersion` declares, by the promise: `>=0.N.0 <1.0.0` while 0.x, `^N.M.0` after. */
export function promisedRange(sdkVersion: string): string {
  const v = semver.parse(sdkVersion)
  if (v === null) throw new Error(`not a version: ${sdkVersion}`)
  return v.major === 0 ? `>=0.${v.minor}.0 <1.0.0` : `^${v.major}.${v.minor}.0`
}

/**
 * What a mismatch says, with the command that fixes it. `driver` names the
 * package, `range` what it declares, `where` the folder to run npm in, and
 * `global` whether smap itself is a global install.
 */
export function describeMismatch(c: Extract<SdkCompatibility, { ok: false }>, driver: string, range: string, sdkVersion: string, where: { dir: string; global: boolean }): string {
  const npm = where.global ? 'npm install -g' : 'npm install'
  const inDir = where.global ? '' : ` in ${where.dir}`
  if (c.kind === 'needs-newer') {
    return `driver "${driver}" needs @smap/sdk ${c.needs} (it declares ${range}), but this smap runs @smap/sdk ${sdkVersion}: update smap with \`${npm} @smap/cli@latest\`${inDir}`
  }
  const line = contractLine(sdkVersion)
  return (
    `driver "${driver}" is built for @smap/sdk ${range}, an older contract line than this smap's @smap/sdk ${sdkVersion}: ` +
    `install a release of it made for @smap/sdk ${line}.x with \`${npm} ${driver}@latest\`${inDir}, or run a smap of its line with \`${npm} @smap/cli@${contractLine(c.builtFor)}\`${inDir}`
  )
}

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
