import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { ActuationError, httpStatus, SmapError } from '../errors.js'
import type { SmapInstance } from '../instance.js'
import { mountAccess } from './access.js'
import { mountActuation, WRITABLE } from './actuate.js'
import { mountData } from './data.js'
import { mountDrivers } from './drivers.js'
import { mountEvents, type EventsOptions } from './events.js'
import { mountJobs } from './jobs.js'
import { jsonPieces, jsonStream } from './json-stream.js'
import { mountPage, wantsPage } from './page.js'
import { mountReports } from './reports.js'

const MAX_BODY_BYTES = 1024 * 1024
const MAX_URL_LENGTH = 8 * 1024

/** Options of `createApp`. */
export interface AppOptions {
  /** How `GET /events` paces and bounds its streams. */
  events?: EventsOptions
}

/** The sMAP HTTP profile for an instance, as a hono app. */
export function createApp(inst: SmapInstance, options: AppOptions = {}): Hono {
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

  // a browser gets the live view, everyone else the profile's root
  const page = mountPage(app)
  app.get('/', (c) => {
    c.header('Vary', 'Accept')
    return wantsPage(c) ? page.index(c) : c.json({ Contents: inst.actuation.any ? ['data', 'reports', 'jobs'] : ['data', 'reports'] })
  })
  const events = mountEvents(app, inst, options.events)
  app.get('/status', async (c) => jsonStream(c, jsonPieces({ ...(await inst.status()), events: events.status() })))
  mountDrivers(app, inst)
  mountAccess(app, inst)
  mountReports(app, inst)
  mountJobs(app, inst)
  mountActuation(app, inst)
  mountData(app, inst.tree, (path) => (inst.tree.getTimeseries(path)?._actuator ? WRITABLE : undefined))

  app.notFound((c) => c.json({ error: `no resource at ${c.req.path}` }, 404))
  // the one place an error becomes an answer: a problem with the request
  // itself (HTTPException), one of ours (by its code), or a bug (500, logged)
  app.onError((err, c) => {
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status as ContentfulStatusCode)
    const status = httpStatus(err)
    if (status >= 500) inst.logger.error(`${c.req.method} ${c.req.path} failed`, err)
    if (err instanceof ActuationError && err.retryAfterMs !== undefined) c.header('Retry-After', String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))))
    if (err instanceof SmapError) return c.json({ error: err.message, code: err.code }, status as ContentfulStatusCode)
    return c.json({ error: 'internal error; the server log has the details' }, 500)
  })
  return app
}
