import type { Report } from '@smap/sdk'
import type { Context, Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { SmapInstance } from '../instance.js'
import { authorize } from './auth.js'
import { parseReport, reportObject, type Subscription } from '../reporting/subscription.js'
import { isUuid } from '../tree/identity.js'

const REPORT_BODY_BYTES = 64 * 1024
const tooLarge = (): HTTPException => new HTTPException(413, { message: `request body larger than ${REPORT_BODY_BYTES} bytes` })

/** `/reports`: only this machine, or a client with the bearer token, may see or change subscriptions. */
export function mountReports(app: Hono, inst: SmapInstance): void {
  app.use('/reports/*', guard)
  app.use('/reports', guard)
  async function guard(c: Context, next: () => Promise<void>): Promise<void> {
    authorize(c, inst, 'reports')
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
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
      throw new HTTPException(400, { message: `ExpireTime ${expire} (${new Date(expire).toISOString()}) is in the past; give a later time (Unix milliseconds, or seconds as the original sMAP sends), or leave it out` })
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
    // 200 with a body, not 204: the original archiver counts only 200, 201 and 404 as unsubscribed
    return c.json({ removed: sub.config.uuid })
  })
  app.post('/reports/:uuid/replay', async (c) => {
    const sub = find(c.req.param('uuid'))
    return c.json({ replayed: await inst.replayReport(sub.config.uuid) })
  })
}
