import { CaisoError } from './errors.js'

/** A request that neither answers nor fails within this long is abandoned. */
export const REQUEST_TIMEOUT_MS = 120_000

const USER_AGENT = 'smap-driver-caiso/0.1.0 (+https://www.npmjs.com/package/@smap/driver-caiso)'

/** An HTTP answer, whatever its status. */
export interface HttpAnswer {
  url: string
  status: number
  contentType: string
  body: Uint8Array
}

/**
 * GETs `url`; rejects with a `CaisoError` naming the URL when the request
 * fails or times out, and with the abort reason when `signal` fires.
 */
export async function get(url: string, signal: AbortSignal): Promise<HttpAnswer> {
  signal.throwIfAborted()
  // a timer of its own, not AbortSignal.timeout inside AbortSignal.any: on Node 20 that
  // timeout is held weakly and can be collected before it fires (nodejs/node#57736)
  const deadline = new AbortController()
  const timer = setTimeout(() => deadline.abort(new DOMException(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`, 'TimeoutError')), REQUEST_TIMEOUT_MS)
  const onAbort = (): void => deadline.abort(signal.reason)
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    const res = await fetch(url, { headers: { 'user-agent': USER_AGENT, accept: '*/*' }, signal: deadline.signal })
    const body = new Uint8Array(await res.arrayBuffer())
    return { url, status: res.status, contentType: res.headers.get('content-type') ?? '', body }
  } catch (err) {
    if (signal.aborted) throw signal.reason
    const why = deadline.signal.aborted ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : describe(err)
    throw new CaisoError('SMAP_CAISO_HTTP', `GET ${shown(url)} failed: ${why}`, { cause: err })
  } finally {
    clearTimeout(timer)
    signal.removeEventListener('abort', onAbort)
  }
}

/** The URL for messages: without the cache-busting `_=` parameter, so one problem reads the same every poll. */
export function shown(url: string): string {
  return url.replace(/[?&]_=\d+$/, '')
}

function describe(err: unknown): string {
  // fetch says only "fetch failed"; the reason is its cause
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  if (cause?.code) return `${cause.code}${cause.message ? ` (${cause.message})` : ''}`
  if (cause?.message) return cause.message
  return err instanceof Error ? err.message : String(err)
}

const decoder = new TextDecoder('utf-8')

export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes)
}

/** Whether an answer is an HTML page (CAISO's error and throttle pages are). */
export function isHtml(answer: HttpAnswer): boolean {
  if (answer.contentType.toLowerCase().includes('html')) return true
  const head = text(answer.body.subarray(0, 256)).trimStart().toLowerCase()
  return head.startsWith('<!doctype html') || head.startsWith('<html')
}
