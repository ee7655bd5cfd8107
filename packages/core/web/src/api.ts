/** Requests to the server the page came from, with the operator's token when one was given. */

const TOKEN_KEY = 'smap.token'

/** The bearer token for this tab (kept in sessionStorage: gone when the tab closes). */
export function token(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY)
  } catch {
    return null
  }
}

export function setToken(value: string | null): void {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value)
    else sessionStorage.removeItem(TOKEN_KEY)
  } catch {
    // storage refused (a private window): the token lasts until the page reloads
  }
  memory = value
}
let memory: string | null = null

export interface Answer<T = unknown> {
  ok: boolean
  status: number
  body: T
  /** The server's error message, or what went wrong on the way. */
  error?: string
}

/** One request; never throws: a network failure is an answer with status 0. */
export async function request<T = unknown>(method: string, url: string): Promise<Answer<T>> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const t = token() ?? memory
  if (t) headers.Authorization = `Bearer ${t}`
  let res: Response
  try {
    res = await fetch(url, { method, headers, cache: 'no-store' })
  } catch (err) {
    return { ok: false, status: 0, body: undefined as T, error: `the source did not answer (${(err as Error).message})` }
  }
  let body: unknown
  try {
    body = await res.json()
  } catch {
    body = undefined
  }
  const error = res.ok ? undefined : typeof (body as { error?: unknown })?.error === 'string' ? (body as { error: string }).error : `${res.status} ${res.statusText}`
  return { ok: res.ok, status: res.status, body: body as T, ...(error !== undefined ? { error } : {}) }
}

/** `/drivers/PATH` for a driver attached at PATH; the root driver's is `/drivers/+`. */
export function driverUrl(path: string): string {
  return `/drivers${path === '/' ? '/+' : path.split('/').map(encodeURIComponent).join('/')}`
}

/** `/data/PATH`, each segment encoded. */
export function dataUrl(path: string): string {
  return `/data${path.split('/').map(encodeURIComponent).join('/')}`
}
