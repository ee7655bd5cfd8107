import { setImmediate as yieldToLoop } from 'node:timers/promises'
import type { Context } from 'hono'

/** About this many characters are serialized between two turns of the event loop. */
const PIECE_CHARS = 64 * 1024

/** Objects and arrays with more members than this are serialized member by member; smaller ones in one call. */
const SPLIT_MEMBERS = 64

/**
 * A JSON answer written in pieces of about 64 KiB, with a turn of the event
 * loop between two, so that a big body (the whole tree of 100,000 streams is
 * some 20 MB) neither stalls delivery and other requests while it is built
 * nor sits in memory whole. `pieces` is pulled only as the client reads.
 */
export function jsonStream(c: Context, pieces: Iterable<string>): Response {
  const it = pieces[Symbol.iterator]()
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let text = ''
        for (;;) {
          const next = it.next()
          if (next.done) {
            if (text !== '') controller.enqueue(encoder.encode(text))
            controller.close()
            return
          }
          text += next.value
          if (text.length >= PIECE_CHARS) break
        }
        controller.enqueue(encoder.encode(text))
        await yieldToLoop()
      },
      cancel() {
        it.return?.()
      },
    },
    { highWaterMark: 0 },
  )
  return c.body(body, 200, { 'Content-Type': 'application/json' })
}

/**
 * `value` as JSON (exactly what JSON.stringify gives, without spaces) in
 * pieces: big objects and arrays member by member, everything else whole.
 */
export function* jsonPieces(value: unknown): Generator<string> {
  const v = toJsonValue(value)
  if (Array.isArray(v) && v.length > SPLIT_MEMBERS) {
    yield '['
    for (let i = 0; i < v.length; i++) {
      if (i > 0) yield ','
      const member = toJsonValue(v[i])
      if (isSkipped(member)) yield 'null'
      else yield* jsonPieces(member)
    }
    yield ']'
  } else if (isPlainObject(v) && !Array.isArray(v) && Object.keys(v).length > 0 && (Object.keys(v).length > SPLIT_MEMBERS || hasBigMember(v))) {
    yield* objectPieces(Object.entries(v))
  } else {
    const text = JSON.stringify(v)
    if (text !== undefined) yield text
  }
}

/** An object given as its members, in order (so that a caller can produce them lazily). */
export function* objectPieces(members: Iterable<[string, unknown]>): Generator<string> {
  let first = true
  yield '{'
  for (const [key, raw] of members) {
    const member = toJsonValue(raw)
    if (isSkipped(member)) continue
    yield `${first ? '' : ','}${JSON.stringify(key)}:`
    yield* jsonPieces(member)
    first = false
  }
  yield '}'
}

function toJsonValue(v: unknown): unknown {
  return v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function' ? (v as { toJSON: () => unknown }).toJSON() : v
}

/** What JSON.stringify leaves out of an object (and writes as null in an array). */
function isSkipped(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol'
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object'
}

/** Whether a small object holds a big one a level or two down (a report's channels, a channel's drop counts). */
function hasBigMember(v: Record<string, unknown>, depth = 0): boolean {
  for (const m of Object.values(v)) {
    if (m === null || typeof m !== 'object') continue
    const n = Array.isArray(m) ? m.length : Object.keys(m).length
    if (n > SPLIT_MEMBERS) return true
    if (depth < 3 && hasBigMember(m as Record<string, unknown>, depth + 1)) return true
  }
  return false
}
