// Helpers shared by the benchmarks in this folder.

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error('median of no values')
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

/** `12.3 M`, `45.6 k`: a rate with three significant digits. */
export function formatRate(perSecond: number): string {
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toPrecision(3)} M`
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toPrecision(3)} k`
  return perSecond.toPrecision(3)
}

/** `0.41x (target >= 0.3x): met`, or `... NOT met`. */
export function formatRatio(ratio: number, target?: number): string {
  const r = `${ratio.toFixed(2)}x`
  if (target === undefined) return r
  return `${r} (target >= ${target}x): ${ratio >= target ? 'met' : 'NOT met'}`
}

/** The order of `items` for round `round`, so that each one goes first as often as the others. */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length
  return [...items.slice(k), ...items.slice(0, k)]
}
