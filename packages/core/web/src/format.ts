/** How the page writes times, ages and values. */

/** "12 s ago", "3 min ago", "2 h ago", "4 d ago"; "in 5 s" for a time ahead. */
export function age(ms: number): string {
  // a reading a little ahead of the page's idea of the server's clock is news, not the future
  if (ms < 0 && ms > -5000) ms = 0
  const ahead = ms < 0
  const s = Math.round(Math.abs(ms) / 1000)
  const text = s < 90 ? `${s} s` : s < 90 * 60 ? `${Math.round(s / 60)} min` : s < 36 * 3600 ? `${Math.round(s / 3600)} h` : `${Math.round(s / 86400)} d`
  return ahead ? `in ${text}` : `${text} ago`
}

/** A duration: "1.2 s", "4 min". */
export function duration(ms: number): string {
  return age(ms).replace(/ ago$/, '')
}

/** A reading's value, short: numbers to 4 significant digits after the point, long strings cut. */
export function value(v: unknown): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return String(v)
    if (Number.isInteger(v)) return String(v)
    const abs = Math.abs(v)
    return abs >= 1000 ? v.toFixed(1) : abs >= 1 ? String(Number(v.toPrecision(5))) : String(Number(v.toPrecision(4)))
  }
  if (typeof v === 'string') return v.length > 40 ? `${v.slice(0, 39)}…` : v
  return JSON.stringify(v) ?? ''
}

/** A time as the server's local clock would not help: ISO without milliseconds, in UTC. */
export function clock(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z')
}

/** `{Instrument: {Model: 'x'}}` as `[['Instrument/Model', 'x']]`. */
export function flatten(obj: unknown, prefix = '', out: Array<[string, string]> = []): Array<[string, string]> {
  if (obj === null || typeof obj !== 'object') {
    if (prefix) out.push([prefix, String(obj)])
    return out
  }
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) flatten(v, prefix ? `${prefix}/${k}` : k, out)
  return out
}

/** `{a: {b: 1}}` under `{a: {c: 2}}` gives `{a: {b: 1, c: 2}}`: metadata merged down the tree, the deeper one winning. */
export function merge(base: Record<string, unknown>, over: unknown): Record<string, unknown> {
  if (over === null || typeof over !== 'object') return base
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    const had = out[k]
    out[k] = v !== null && typeof v === 'object' && had !== null && typeof had === 'object' ? merge(had as Record<string, unknown>, v) : v
  }
  return out
}
