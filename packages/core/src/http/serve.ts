import { readFile } from 'node:fs/promises'
import type { Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { serve as serveNode } from '@hono/node-server'
import { whyUnreadable } from '../config/secrets.js'
import { parsePort } from '../config/values.js'
import { smapError } from '../errors.js'
import type { ServerSettings, SmapInstance } from '../instance.js'
import { createApp } from './app.js'
import type { EventsOptions } from './events.js'

/** Options of `serve`. */
export interface ServeOptions {
  /** TCP port; 0 picks a free one. Default: the instance's `[server] Port`, else 8080. */
  port?: number
  /** Address to listen on, HTTP and HTTPS alike. Default: the instance's `[server] Host`, else 127.0.0.1 (this machine only). */
  host?: string
  /** HTTPS port; 0 picks a free one. Default: the instance's `[server] TlsPort` (no HTTPS without it). */
  tlsPort?: number
  /** How `GET /events` paces and bounds its streams. */
  events?: EventsOptions
}

/** A running server. */
export interface SmapServer {
  /** The plain HTTP port; the HTTPS one when plain HTTP is off (`[server] Http = false`). */
  readonly port: number
  /** `http://HOST:PORT` (`https://` when plain HTTP is off) */
  readonly url: string
  /** The HTTPS port, when HTTPS is served. */
  readonly tlsPort?: number
  /** `https://HOST:TLSPORT`, when HTTPS is served. */
  readonly tlsUrl?: string
  /** Stops listening and closes open connections. */
  close(): Promise<void>
}

export const DEFAULT_PORT = 8080
export const DEFAULT_HOST = '127.0.0.1'
/** Open HTTP connections a source accepts at once unless `[server] MaxConnections` says otherwise. */
export const DEFAULT_MAX_CONNECTIONS = 256

/** How a user picks the port and the address, for `listenError`'s messages. */
export interface ListenHints {
  /** ends "pick another ...": e.g. `port (--port, or Port in [server])` */
  port: string
  /** in parentheses after "no such local address": e.g. `--host` */
  host: string
  /** ends "ports below 1024 need privileges, pick another": e.g. ` with --port` */
  privileged: string
}

/** Why a server could not listen, as an error that says what to do (`err` itself if it is none of those). */
export function listenError(err: NodeJS.ErrnoException, port: number, host: string, hints: ListenHints): Error {
  if (err.code === 'EADDRINUSE') return smapError('SMAP_SERVE_PORT_IN_USE', `port ${port} on ${host} is already in use; stop what uses it or pick another ${hints.port}`, { cause: err })
  if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') return smapError('SMAP_SERVE_BAD_HOST', `cannot listen on ${host}: no such local address (${hints.host})`, { cause: err })
  if (err.code === 'EACCES') return smapError('SMAP_SERVE_DENIED', `not allowed to listen on port ${port}; ports below 1024 need privileges, pick another${hints.privileged}`, { cause: err })
  return err
}

/**
 * Serves an instance over HTTP, and HTTPS when `[server] TlsPort` is set, and
 * starts its drivers; `close()` stops them all.
 * @example const server = await serve(inst, { port: 8080 }); console.log(server.url)
 */
export async function serve(inst: SmapInstance, options: ServeOptions = {}): Promise<SmapServer> {
  const settings = inst.server
  const plain = settings.http !== false
  const port = options.port ?? settings.port ?? DEFAULT_PORT
  const host = options.host ?? settings.host ?? DEFAULT_HOST
  const tlsPort = options.tlsPort ?? settings.tlsPort
  if (parsePort(port) === undefined) throw smapError('SMAP_SERVE_INVALID', `port must be a whole number from 0 to 65535, got ${String(port)}`)
  if (tlsPort !== undefined && parsePort(tlsPort) === undefined) throw smapError('SMAP_SERVE_INVALID', `the TLS port must be a whole number from 0 to 65535, got ${String(tlsPort)}`)
  if (!plain && tlsPort === undefined) throw smapError('SMAP_SERVE_INVALID', 'plain HTTP is off (Http = false in [server]) and no TlsPort is set: nothing would listen')
  if (!plain && options.port !== undefined) throw smapError('SMAP_SERVE_INVALID', `plain HTTP is off (Http = false in [server]), so there is no HTTP port to set to ${options.port}; leave it out (or --port), or remove Http = false`)
  const tls = tlsPort === undefined ? undefined : await tlsOptions(settings)
  const app = createApp(inst, { events: options.events })
  // a client that opens connections and sends nothing (or slowly) must not use up the file
  // descriptors the outboxes need: at most MaxConnections at once, and each must finish its headers soon
  const limits = { headersTimeout: 10_000, requestTimeout: 30_000 }
  const servers: Server[] = []
  const closeAll = (): Promise<void> =>
    Promise.all(servers.map((s) => new Promise<void>((done) => {
      s.close(() => done())
      s.closeAllConnections()
    }))).then(() => undefined)
  try {
    if (plain) {
      servers.push(await listen(inst, () => serveNode({ fetch: app.fetch, port, hostname: host, serverOptions: limits }) as Server, port, host, { port: 'port (--port, or Port in [server])', host: 'Host in [server], or --host', privileged: '' }))
    }
    if (tls && tlsPort !== undefined) {
      const serverOptions = { ...limits, ...tls, handshakeTimeout: 10_000 }
      servers.push(await listen(inst, () => serveNode({ fetch: app.fetch, port: tlsPort, hostname: host, createServer: createHttpsServer, serverOptions }) as Server, tlsPort, host, { port: 'TlsPort in [server]', host: 'Host in [server], or --host', privileged: ' in TlsPort' }))
    }
  } catch (err) {
    await closeAll()
    throw err
  }
  // drivers begin producing once the source answers
  await inst.start()
  const shownHost = host.includes(':') ? `[${host}]` : host
  const urlHost = shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost
  const portOf = (s: Server): number => (s.address() as AddressInfo).port
  const secure = tls ? servers[servers.length - 1] : undefined
  const first = servers[0] as Server
  return {
    port: portOf(first),
    url: `${plain ? 'http' : 'https'}://${urlHost}:${portOf(first)}`,
    ...(secure ? { tlsPort: portOf(secure), tlsUrl: `https://${urlHost}:${portOf(secure)}` } : {}),
    close: async () => {
      await inst.stop()
      await closeAll()
    },
  }
}

/** Starts one listener; a port in use, a bad host or a privileged port is an error that says what to change. */
function listen(inst: SmapInstance, make: () => Server, port: number, host: string, hints: ListenHints): Promise<Server> {
  return new Promise<Server>((resolveListen, reject) => {
    const s = make()
    s.maxConnections = inst.server.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    s.once('listening', () => {
      s.off('error', reject)
      resolveListen(s)
    })
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.close()
      reject(listenError(err, port, host, hints))
    })
  })
}

/** The key, certificate and client CA the HTTPS server is made with, read now (they were checked at load; they may have changed since). */
export async function tlsOptions(s: Readonly<ServerSettings>): Promise<{ key: Buffer; cert: Buffer; ca?: Buffer; requestCert: boolean; rejectUnauthorized: boolean }> {
  if (s.tlsKey === undefined || s.tlsCert === undefined) {
    throw smapError('SMAP_SERVE_INVALID', 'HTTPS needs a private key and a certificate: set TlsKey and TlsCert in [server] (PEM files), or remove TlsPort')
  }
  const read = async (path: string, what: string): Promise<Buffer> => {
    try {
      return await readFile(path)
    } catch (err) {
      throw smapError('SMAP_SERVE_TLS', `cannot read the ${what} ${path}: ${whyUnreadable(err)}`, { cause: err })
    }
  }
  const key = await read(s.tlsKey, 'TLS private key (TlsKey)')
  const cert = await read(s.tlsCert, 'TLS certificate (TlsCert)')
  if (s.tlsCA === undefined) return { key, cert, requestCert: false, rejectUnauthorized: false }
  const ca = await read(s.tlsCA, 'client CA certificate (TlsCA)')
  // ask every client for a certificate; without TlsVerifyClients one without (or with a bad one) still connects, and is judged per request
  return { key, cert, ca, requestCert: true, rejectUnauthorized: s.tlsVerifyClients === true }
}
