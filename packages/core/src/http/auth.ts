import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Principal } from '@smap/sdk'
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { SmapInstance } from '../instance.js'

/** What a request asks to do beyond reading: manage subscriptions, or change equipment. */
export type Scope = 'reports' | 'actuate'

/**
 * Whether an address is this machine: all of 127.0.0.0/8, ::1, and
 * 127.0.0.0/8 mapped into IPv6. The one place this is decided.
 */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  const v4 = address.startsWith('::ffff:') ? address.slice('::ffff:'.length) : address
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

/** Compares in constant time; secrets of different byte lengths are simply different. */
export function sameSecret(given: string, secret: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(secret)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Whether a request's Origin names the host it was sent to. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host.toLowerCase() === host.toLowerCase()
  } catch {
    return false
  }
}

/** The client's address, as the socket has it. */
export function remoteAddress(c: Context): string | undefined {
  return (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress
}

const HOW: Record<Scope, { what: string; token: string }> = {
  reports: { what: 'subscriptions can be managed', token: 'set ReportToken in [server] to allow others with a bearer token' },
  actuate: { what: 'equipment can be changed', token: 'give clients a token with Scope = actuate, or a TLS client certificate' },
}

/**
 * Who is asking, if they may do `scope`: this machine, or a client with the
 * bearer token. Otherwise 401 (a malformed Authorization header) or 403,
 * saying what would let them in. A change (not GET or HEAD) from a web page
 * on another origin is refused, so a page open in a browser on this machine
 * cannot act for it.
 */
export function authorize(c: Context, inst: SmapInstance, scope: Scope): Principal {
  const address = remoteAddress(c)
  const token = inst.server.reportToken
  const header = c.req.header('authorization')
  let principal: Principal | undefined
  if (header !== undefined) {
    const bearer = /^Bearer +([\x21-\x7e]+)$/i.exec(header.trim())
    if (!bearer) {
      c.header('WWW-Authenticate', 'Bearer')
      throw new HTTPException(401, { message: 'malformed Authorization header: expected "Bearer TOKEN", the token being [server] ReportToken' })
    }
    if (scope === 'reports' && token !== undefined && sameSecret(bearer[1] as string, token)) principal = { via: 'token', name: 'ReportToken', ...(address ? { address } : {}) }
  }
  if (!principal && isLoopback(address)) principal = { via: 'loopback', name: address as string, address }
  if (!principal) {
    const how = HOW[scope]
    throw new HTTPException(403, {
      message: scope === 'reports' && token !== undefined ? `${how.what} only from this machine or with the bearer token (Authorization: Bearer ...)` : `${how.what} only from this machine; ${how.token}`,
    })
  }
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    const origin = c.req.header('origin')
    if (origin !== undefined && !sameOrigin(origin, c.req.header('host'))) {
      throw new HTTPException(403, { message: `cross-site request refused: Origin ${origin.slice(0, 100)} is not this source` })
    }
  }
  return principal
}
