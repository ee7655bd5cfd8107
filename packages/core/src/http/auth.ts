import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { BlockList, isIP } from 'node:net'
import { TLSSocket } from 'node:tls'
import type { Principal } from '@smap/sdk'
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { Scope, TokenSettings } from '../credentials.js'
import type { SmapInstance } from '../instance.js'

export type { Scope }

/**
 * Whether an address is this machine: all of 127.0.0.0/8, ::1, and
 * 127.0.0.0/8 mapped into IPv6. The one place this is decided.
 */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(unmapped(address))
}

/** An IPv4 client of a dual-stack socket shows as ::ffff:a.b.c.d: the IPv4 address, else `address` itself. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
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

const WHAT: Record<Scope, string> = { reports: 'subscriptions can be managed', actuate: 'equipment can be changed' }

/** Every token the instance knows: the `[token NAME]` sections, and `[server] ReportToken` as one of scope reports. */
function tokensOf(inst: SmapInstance): TokenSettings[] {
  const { reportToken, tokens = [] } = inst.server
  return reportToken ? [...tokens, { name: 'ReportToken', secret: reportToken, scopes: ['reports'] }] : tokens
}

const networks = new WeakMap<SmapInstance, BlockList>()

/** Whether `address` is in `[server] ReportClients`. */
function inReportClients(inst: SmapInstance, address: string | undefined): boolean {
  const listed = inst.server.reportClients
  if (!address || !listed || listed.length === 0) return false
  let list = networks.get(inst)
  if (!list) {
    list = new BlockList()
    for (const n of listed) {
      const [net = '', prefix] = n.split('/')
      const family = isIP(net) === 6 ? 'ipv6' : 'ipv4'
      if (prefix === undefined) list.addAddress(net, family)
      else list.addSubnet(net, Number(prefix), family)
    }
    networks.set(inst, list)
  }
  const plain = unmapped(address)
  return list.check(plain, isIP(plain) === 6 ? 'ipv6' : 'ipv4')
}

/** The subject of a client certificate the TLS handshake verified against `[server] TlsCA`, e.g. `CN=scada, O=Site`. */
function verifiedSubject(c: Context): string | undefined {
  const socket = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined
  const subject = socket.getPeerX509Certificate()?.subject
  return subject ? subject.split('\n').join(', ') : undefined
}

/**
 * Who is asking, if they may do `scope`: a client with a bearer token whose
 * scope includes it, one with a TLS client certificate signed by
 * `[server] TlsCA`, or this machine. Otherwise 401 (a malformed
 * Authorization header) or 403, saying what would let them in. A change (not
 * GET or HEAD) from a web page on another origin is refused, so a page open
 * in a browser on this machine cannot act for it. The secret never appears in
 * an answer or the Principal.
 */
export function authorize(c: Context, inst: SmapInstance, scope: Scope): Principal {
  const address = remoteAddress(c)
  const at = address ? { address } : {}
  const tokens = tokensOf(inst)
  const header = c.req.header('authorization')
  let principal: Principal | undefined
  // a token never takes away what the client has without it (this machine, a certificate)
  let wrongScope: TokenSettings | undefined
  if (header !== undefined) {
    const bearer = /^Bearer +([\x21-\x7e]+)$/i.exec(header.trim())
    if (!bearer) {
      c.header('WWW-Authenticate', 'Bearer')
      throw new HTTPException(401, { message: 'malformed Authorization header: expected "Bearer TOKEN", the token being one of [token NAME] or [server] ReportToken' })
    }
    // every token is compared, so the time taken does not tell which one nearly matched
    let match: TokenSettings | undefined
    for (const t of tokens) if (sameSecret(bearer[1] as string, t.secret.reveal()) && !match) match = t
    if (match?.scopes.includes(scope)) principal = { via: 'token', name: match.name, ...at }
    else wrongScope = match
  }
  if (!principal) {
    const subject = verifiedSubject(c)
    if (subject !== undefined) principal = { via: 'certificate', name: subject, ...at }
  }
  if (!principal && isLoopback(address)) principal = { via: 'loopback', name: address as string, address }
  if (!principal && scope === 'reports' && inReportClients(inst, address)) principal = { via: 'network', name: `${address as string} (ReportClients)`, ...at }
  if (!principal && wrongScope) {
    const { name, scopes } = wrongScope
    throw new HTTPException(403, {
      message: `token ${name} has scope ${scopes.join(', ')}, which lacks ${scope}; ${name === 'ReportToken' ? 'ReportToken is for reports only: give this client a [token NAME] with' : `add it in [token ${name}]:`} Scope = ${[...scopes, scope].join(', ')}`,
    })
  }
  if (!principal) throw new HTTPException(403, { message: refusal(inst, scope, tokens, header !== undefined) })
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    const origin = c.req.header('origin')
    if (origin !== undefined && !sameOrigin(origin, c.req.header('host'))) {
      throw new HTTPException(403, { message: `cross-site request refused: Origin ${origin.slice(0, 100)} is not this source` })
    }
  }
  return principal
}

/** Why a client was refused, and what would let it in. */
function refusal(inst: SmapInstance, scope: Scope, tokens: TokenSettings[], sentToken: boolean): string {
  const ways = tokens.some((t) => t.scopes.includes(scope)) ? ['with a bearer token (Authorization: Bearer ...)'] : []
  if (scope === 'actuate' && inst.server.tlsCA !== undefined) ways.push('with a TLS client certificate signed by [server] TlsCA')
  if (sentToken && ways.length > 0) return `${WHAT[scope]} only from this machine or ${ways.join(' or ')}; the bearer token sent is not one of them`
  if (ways.length > 0) return `${WHAT[scope]} only from this machine or ${ways.join(' or ')}`
  const how = scope === 'reports'
    ? 'set ReportToken in [server] to allow others with a bearer token'
    : 'give clients a [token NAME] with Scope = actuate, or a TLS client certificate (TlsCA in [server])'
  return `${WHAT[scope]} only from this machine; ${how}`
}
