// A server-sent events client for tests: fetch with a streaming body reader,
// parsing events as the EventSource spec does (event, data, retry, comments).

/** One event as a browser's EventSource would see it (`comment` for a `:` line). */
export interface SseEvent {
  event: string
  data: string
  retry?: number
}

/** An open event stream: every event so far, and a way to wait for one. */
export interface SseClient {
  status: number
  headers: Headers
  events: SseEvent[]
  /** Resolves once the server ended the stream. */
  ended: Promise<void>
  /** The first event (from `from` on) that `match` accepts, waiting up to `ms`. */
  next(match: (e: SseEvent) => boolean, ms?: number, from?: number): Promise<SseEvent>
  close(): void
}

/** Parses complete events out of `text`; returns what is left over (an event not yet ended). */
export function parseEvents(text: string, out: SseEvent[]): string {
  const blocks = text.split(/\r?\n\r?\n/)
  const rest = blocks.pop() ?? ''
  for (const block of blocks) {
    const e: SseEvent = { event: 'message', data: '' }
    const data: string[] = []
    let comment = true
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue
      comment = false
      const i = line.indexOf(':')
      const field = i < 0 ? line : line.slice(0, i)
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '')
      if (field === 'event') e.event = value
      else if (field === 'data') data.push(value)
      else if (field === 'retry') e.retry = Number(value)
    }
    e.data = data.join('\n')
    out.push(comment ? { event: 'comment', data: block } : e)
  }
  return rest
}

/** Opens `url` as an event stream. */
export async function openSse(url: string, init: RequestInit = {}): Promise<SseClient> {
  const abort = new AbortController()
  const res = await fetch(url, { ...init, signal: abort.signal })
  const events: SseEvent[] = []
  const decoder = new TextDecoder()
  let buffer = ''
  const ended = (async () => {
    if (!res.body) return
    const reader = res.body.getReader()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), events)
      }
    } catch {
      // closed by us
    }
  })()
  return {
    status: res.status,
    headers: res.headers,
    events,
    ended,
    async next(match, ms = 5000, from = 0) {
      const end = Date.now() + ms
      for (;;) {
        const found = events.slice(from).find(match)
        if (found) return found
        if (Date.now() > end) throw new Error(`no matching event within ${ms} ms; got ${events.map((e) => e.event).join(', ')}`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
    close: () => abort.abort(),
  }
}
