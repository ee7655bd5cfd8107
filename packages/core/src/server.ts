import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve as serveNode } from '@hono/node-server'
import { Hono, type Context } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { isUuid, reportSchema, SmapError, type Report } from '@smap/sdk'
import type { SmapInstance } from './instance.js'
import { reportObject, type Subscription } from './reporting.js'
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

  app.get('/', (c) => c.json({ Contents: ['data', 'reports'] }))
  app.get('/status', async (c) => c.json(await inst.status()))
  mountReports(app, inst)

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

const REPORT_BODY_BYTES = 64 * 1024

function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}

/** `/reports` (DESIGN.md §5): only this machine, or a client with the bearer token, may see or change subscriptions. */
function mountReports(app: Hono, inst: SmapInstance): void {
  app.use('/reports/*', guard)
  app.use('/reports', guard)
  async function guard(c: Context, next: () => Promise<void>): Promise<void> {
    const remote = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress
    const token = inst.server.reportToken
    const given = c.req.header('authorization')?.replace(/^Bearer\s+/i, '')
    const tokenOk = token !== undefined && given !== undefined && given.length === token.length && timingSafeEqual(Buffer.from(given), Buffer.from(token))
    if (!isLoopback(remote) && !tokenOk) {
      throw new HTTPException(403, {
        message: token === undefined
          ? 'subscriptions can be managed only from this machine; set ReportToken in [server] to allow others with a bearer token'
          : 'subscriptions can be managed only from this machine or with the bearer token (Authorization: Bearer ...)',
      })
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      const length = Number(c.req.header('content-length') ?? 0)
      if (length > REPORT_BODY_BYTES) throw new HTTPException(413, { message: `request body larger than ${REPORT_BODY_BYTES} bytes` })
    }
    await next()
  }
  const readBody = async (c: Context): Promise<Report> => {
    const text = await c.req.text()
    if (text.length > REPORT_BODY_BYTES) throw new HTTPException(413, { message: `request body larger than ${REPORT_BODY_BYTES} bytes` })
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (err) {
      throw new HTTPException(400, { message: `request body is not JSON: ${(err as Error).message}` })
    }
    const parsed = reportSchema.safeParse(body)
    if (!parsed.success) {
      throw new HTTPException(400, { message: `invalid report: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}` })
    }
    return parsed.data
  }
  const find = (uuid: string): Subscription => {
    const sub = inst.subscriptions.get(uuid.toLowerCase())
    if (!sub) throw new HTTPException(404, { message: `no report ${uuid}` })
    return sub
  }
  const fromConfig = (sub: Subscription): void => {
    if (sub.origin === 'config') throw new HTTPException(409, { message: `report ${sub.config.uuid} comes from ${sub.where ?? 'the config'}; change it there` })
  }

  app.get('/reports', (c) => c.json({ Contents: [...inst.subscriptions.keys()] }))
  app.post('/reports', async (c) => {
    const body = await readBody(c)
    if (body.uuid !== undefined && inst.subscriptions.has(body.uuid.toLowerCase())) {
      throw new HTTPException(400, { message: `report ${body.uuid} exists already; PUT /reports/${body.uuid} to change it` })
    }
    const config = await inst.addReport(body, { origin: 'http' })
    c.header('Location', `/reports/${config.uuid}`)
    return c.json(reportObject(config), 201)
  })
  app.get('/reports/:uuid', (c) => c.json(reportObject(find(c.req.param('uuid')).config)))
  app.put('/reports/:uuid', async (c) => {
    const uuid = c.req.param('uuid').toLowerCase()
    if (!isUuid(uuid)) throw new HTTPException(400, { message: `"${uuid}" is not a uuid` })
    const body = await readBody(c)
    if (body.uuid !== undefined && body.uuid.toLowerCase() !== uuid) throw new HTTPException(400, { message: `the body's uuid ${body.uuid} differs from the URL's ${uuid}` })
    const existing = inst.subscriptions.get(uuid)
    if (existing) fromConfig(existing)
    const config = await inst.addReport({ ...body, uuid }, { origin: 'http' })
    return c.json(reportObject(config), existing ? 200 : 201)
  })
  app.delete('/reports/:uuid', async (c) => {
    const sub = find(c.req.param('uuid'))
    fromConfig(sub)
    await inst.reporter.remove(sub.config.uuid)
    return c.body(null, 204)
  })
  app.post('/reports/:uuid/replay', async (c) => {
    const sub = find(c.req.param('uuid'))
    try {
      return c.json({ replayed: await inst.reporter.replay(sub.config.uuid) })
    } catch (err) {
      throw new HTTPException(503, { message: (err as Error).message, cause: err })
    }
  })
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
