import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve as serveNode } from '@hono/node-server'
import { parsePort } from '../config/values.js'
import { smapError } from '../errors.js'
import type { SmapInstance } from '../instance.js'
import { createApp } from './app.js'

/** Options of `serve`. */
export interface ServeOptions {
  /** TCP port; 0 picks a free one. Default: the instance's `[server] Port`, else 8080. */
  port?: number
  /** Address to listen on. Default: the instance's `[server] Host`, else 127.0.0.1 (this machine only). */
  host?: string
}

/** A running server. */
export interface SmapServer {
  readonly port: number
  /** `http://HOST:PORT` */
  readonly url: string
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
 * Serves an instance over HTTP and starts its drivers; `close()` stops both.
 * @example const server = await serve(inst, { port: 8080 }); console.log(server.url)
 */
export async function serve(inst: SmapInstance, options: ServeOptions = {}): Promise<SmapServer> {
  const port = options.port ?? inst.server.port ?? DEFAULT_PORT
  const host = options.host ?? inst.server.host ?? DEFAULT_HOST
  if (parsePort(port) === undefined) throw smapError('SMAP_SERVE_INVALID', `port must be a whole number from 0 to 65535, got ${String(port)}`)
  const app = createApp(inst)
  const server = await new Promise<Server>((resolveListen, reject) => {
    // a client that opens connections and sends nothing (or slowly) must not use up the file
    // descriptors the outboxes need: at most MaxConnections at once, and each must finish its headers soon
    const s = serveNode({ fetch: app.fetch, port, hostname: host, serverOptions: { headersTimeout: 10_000, requestTimeout: 30_000 } }) as Server
    s.maxConnections = inst.server.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    s.once('listening', () => {
      s.off('error', reject)
      resolveListen(s)
    })
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.close()
      reject(listenError(err, port, host, { port: 'port (--port, or Port in [server])', host: 'Host in [server], or --host', privileged: '' }))
    })
  })
  // drivers begin producing once the source answers
  await inst.start()
  const actual = (server.address() as AddressInfo).port
  const shownHost = host.includes(':') ? `[${host}]` : host
  return {
    port: actual,
    url: `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${actual}`,
    close: async () => {
      await inst.stop()
      await new Promise<void>((resolveClose) => {
        server.close(() => resolveClose())
        server.closeAllConnections()
      })
    },
  }
}
