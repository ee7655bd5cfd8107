import { formatLocation, type ConfigLocation } from '../errors.js'

/**
 * What a config written for the original Python sMAP may hold that we do not
 * implement: each is told once as a warning and ignored, so a site's config
 * loads as it is. Anything else unknown stays an error.
 */
const ORIGINAL_SERVER_KEYS = ['docroot', 'MaxAge']
const ORIGINAL_SECTIONS = ['logging']

/** The warning for a `[server]` key of the original's, or undefined if `key` is not one. */
export function originalServerKey(key: string, where: ConfigLocation): string | undefined {
  const known = ORIGINAL_SERVER_KEYS.find((k) => k.toLowerCase() === key.toLowerCase())
  return known === undefined ? undefined : `${formatLocation(where)}: the original sMAP's ${known} is not implemented here; this line is ignored`
}

/** The warning for a section of the original's (`[logging]`), or undefined if `name` is not one. */
export function originalSection(name: string, where: ConfigLocation): string | undefined {
  const known = ORIGINAL_SECTIONS.find((s) => s === name.toLowerCase())
  return known === undefined ? undefined : `${formatLocation(where)}: the original sMAP's [${known}] section is not implemented here (smap logs to stderr); it is ignored`
}

/** `; did you mean Port?` when `given` is one or two edits from one of `known`, else nothing. */
export function didYouMean(given: string, known: readonly string[]): string {
  let best: string | undefined
  let bestDistance = 3
  for (const k of known) {
    const d = distance(given.toLowerCase(), k.toLowerCase())
    if (d < bestDistance) {
      best = k
      bestDistance = d
    }
  }
  return best === undefined ? '' : `; did you mean ${best}?`
}

/** Levenshtein distance (insert, delete, substitute), for a misspelt key. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = cur
  }
  return prev[b.length] as number
}
