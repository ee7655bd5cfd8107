import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Report } from '@smap/sdk'
import type { Context, Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { SmapInstance } from '../instance.js'
import { parseReport, reportObject, type Subscription } from '../reporting/subscription.js'
import { isUuid } from '../tree/identity.js'

const REPORT_BODY_BYTES = 64 * 1024
const tooLarge = (): HTTPException => new HTTPException(413, { message: `request body larger than ${REPORT_BODY_BYTES} bytes` })

function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.')
}

/** Whether a request's Origin names the host it was sent to. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host.toLowerCase() === host.toLowerCase()
  } catch {
    return false
  }
}

/** Compares in constant time; secrets of different byte lengths are simply different. */
function sameSecret(given: string, secret: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(secret)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** `/reports`: only this machine, or a client with the bearer token, may see or change subscriptions. */
export function mountReports(app: Hono, inst: SmapInstance): void {
  app.use('/reports/*', guard)
  app.use('/reports', guard)
  async function guard(c: Context, next: () => Promise<void>): Promise<void> {
    const remote = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.socket.remoteAddress
    const token = inst.server.reportToken
    const header = c.req.header('authorization')
    let tokenOk = false
    if (header !== undefined) {
      const bearer = /^Bearer +([\x21-\x7e]+)$/i.exec(header.trim())
      if (!bearer) {
        c.header('WWW-Authenticate', 'Bearer')
        throw new HTTPException(401, { message: 'malformed Authorization header: expected "Bearer TOKEN", the token being [server] ReportToken' })
      }
      tokenOk = token !== undefined && sameSecret(bearer[1] as string, token)
    }
    if (!isLoopback(remote) && !tokenOk) {
      throw new HTTPException(403, {
        message: token === undefined
          ? 'subscriptions can be managed only from this machine; set ReportToken in [server] to allow others with a bearer token'
          : 'subscriptions can be managed only from this machine or with the bearer token (Authorization: Bearer ...)',
      })
    }
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      // a web page open in a browser on this machine must not manage subscriptions
      const origin = c.req.header('origin')
      if (origin !== undefined && !sameOrigin(origin, c.req.header('host'))) {
        throw new HTTPException(403, { message: `cross-site request refused: Origin ${origin.slice(0, 100)} is not this source` })
      }
      if (inst.starting) {
        c.header('Retry-After', '1')
        throw new HTTPException(503, { message: 'the source is starting and restoring its subscriptions; try again in a second' })
      }
      const length = Number(c.req.header('content-length') ?? 0)
      if (length > REPORT_BODY_BYTES) throw tooLarge()
    }
    await next()
  }
  const readBody = async (c: Context): Promise<Report> => {
    // a browser can send text/plain or a form to any site without asking; JSON it must ask for first
    const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/json') {
      throw new HTTPException(415, { message: `send the subscription as JSON with Content-Type: application/json${type ? `, not ${type.slice(0, 60)}` : ''}` })
    }
    const text = await c.req.text()
    if (text.length > REPORT_BODY_BYTES) throw tooLarge()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (err) {
      throw new HTTPException(400, { message: `request body is not JSON: ${(err as Error).message}` })
    }
    let report: Report
    try {
      report = parseReport(body)
    } catch (err) {
      throw new HTTPException(400, { message: (err as Error).message })
    }
    const expire = report.ExpireTime
    if (typeof expire === 'number' && expire <= Date.now()) {
      throw new HTTPException(400, { message: `ExpireTime ${expire} (${new Date(expire).toISOString()}) is in the past; give a later time in Unix milliseconds, or leave it out` })
    }
    return report
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
    await inst.removeReport(sub.config.uuid)
    return c.body(null, 204)
  })
  app.post('/reports/:uuid/replay', async (c) => {
    const sub = find(c.req.param('uuid'))
    return c.json({ replayed: await inst.replayReport(sub.config.uuid) })
  })
}
