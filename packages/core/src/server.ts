import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve as serveNode } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { SmapError } from '@smap/sdk'
import type { SmapInstance } from './instance.js'
import { relativePath } from '@smap/sdk'

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
const MAX_BODY_BYTES = 1024 * 1024
const MAX_URL_LENGTH = 8 * 1024

/** The sMAP HTTP profile (DESIGN.md §5) for an instance, as a hono app. */
export function createApp(inst: SmapInstance): Hono {
  const app = new Hono()

  const limitBody = bodyLimit({
    maxSize: MAX_BODY_BYTES,
    onError: () => {
      throw new HTTPException(413, { message: `request body larger than ${MAX_BODY_BYTES} bytes` })
    },
  })
  app.use((c, next) => {
    if (c.req.url.length > MAX_URL_LENGTH) throw new HTTPException(414, { message: `request URL longer than ${MAX_URL_LENGTH} bytes` })
    // bodyLimit reads c.req.raw.body, which makes @hono/node-server build a
    // whole Request (about half the CPU of a GET); GET and HEAD carry no body
    return c.req.method === 'GET' || c.req.method === 'HEAD' ? next() : limitBody(c, next)
  })

  app.get('/', (c) => c.json({ Contents: ['data'] }))
  app.get('/status', (c) => c.json(inst.status()))

  const getData = (c: Context): Response => {
    let path = c.req.path.slice('/data'.length) || '/'
    const all = path === '/+' || path.endsWith('/+')
    if (all) path = path.slice(0, -1) || '/'
    const resource = inst.lookup(path)
    if (!resource) throw new HTTPException(404, { message: `no resource at /data${path === '/' ? '' : path.replace(/\/$/, '')}` })
    if (!all) return c.json(resource.toJSON())
    const out: Record<string, unknown> = {}
    for (const r of inst.resources(resource.path)) out[relativePath(resource.path, r.path)] = r.toJSON()
    return c.json(out)
  }
  app.get('/data', getData)
  app.get('/data/*', getData)
  app.all('/data', methodNotAllowed)
  app.all('/data/*', methodNotAllowed)

  app.notFound((c) => c.json({ error: `no resource at ${c.req.path}` }, 404))
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status as ContentfulStatusCode)
    if (err instanceof SmapError) return c.json({ error: err.message, code: err.code }, 400)
    inst.logger.error(`${c.req.method} ${c.req.path} failed`, err)
    return c.json({ error: 'internal error; the server log has the details' }, 500)
  })
  return app
}

function methodNotAllowed(c: Context): Response {
  c.header('Allow', 'GET, HEAD')
  return c.json({ error: `${c.req.method} is not allowed on ${c.req.path}; use GET` }, 405)
}

/**
 * Serves an instance over HTTP and starts its drivers; `close()` stops both.
 * @example const server = await serve(inst, { port: 8080 }); console.log(server.url)
 */
export async function serve(inst: SmapInstance, options: ServeOptions = {}): Promise<SmapServer> {
  const port = options.port ?? inst.server.port ?? DEFAULT_PORT
  const host = options.host ?? inst.server.host ?? DEFAULT_HOST
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SmapError('SMAP_SERVE_INVALID', `port must be a whole number from 0 to 65535, got ${String(port)}`)
  }
  const app = createApp(inst)
  const server = await new Promise<Server>((resolveListen, reject) => {
    const s = serveNode({ fetch: app.fetch, port, hostname: host }) as Server
    s.once('listening', () => {
      s.off('error', reject)
      resolveListen(s)
    })
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.close()
      if (err.code === 'EADDRINUSE') reject(new SmapError('SMAP_SERVE_PORT_IN_USE', `port ${port} on ${host} is already in use; stop what uses it or pick another port (--port, or Port in [server])`, { cause: err }))
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') reject(new SmapError('SMAP_SERVE_BAD_HOST', `cannot listen on ${host}: no such local address (Host in [server], or --host)`, { cause: err }))
      else if (err.code === 'EACCES') reject(new SmapError('SMAP_SERVE_DENIED', `not allowed to listen on port ${port}; ports below 1024 need privileges, pick another`, { cause: err }))
      else reject(err)
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
