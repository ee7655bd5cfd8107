import type { Context, Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { SmapError } from '../errors.js'
import type { SmapInstance } from '../instance.js'
import { authorize, remoteAddress } from './auth.js'
import { notAllowed } from './data.js'

const READ_ONLY = 'GET, HEAD'
export const WRITABLE = 'GET, HEAD, PUT, POST'

/**
 * `PUT /data/PATH?state=V` (or POST, for clients that cannot PUT): writes an
 * actuator point. 404 for no resource, 405 for one that cannot be written,
 * 401/403 without the right to, 400 for a state the point does not take,
 * then what the write did: 200, 429, 502, 503 or 504.
 */
export function mountActuation(app: Hono, inst: SmapInstance): void {
  const write = async (c: Context): Promise<Response> => {
    const path = c.req.path.slice('/data'.length) || '/'
    const resource = path.endsWith('/+') ? undefined : inst.tree.lookup(path)
    if (!resource) {
      if (path.endsWith('/+')) return notAllowed(c, READ_ONLY, `${c.req.method} is not allowed on a subtree (${c.req.path}); write one actuator point at a time`)
      throw new HTTPException(404, { message: `no resource at ${c.req.path.replace(/\/$/, '')}` })
    }
    let point
    try {
      point = inst.actuation.point(resource.path)
    } catch (err) {
      if (err instanceof SmapError && err.code === 'SMAP_NOT_ACTUATOR') return notAllowed(c, READ_ONLY, `${err.message}; use GET`)
      throw err
    }
    const states = c.req.queries('state') ?? []
    const requested = states.length === 1 ? states[0] : undefined
    let principal
    try {
      principal = authorize(c, inst, 'actuate')
    } catch (err) {
      const address = remoteAddress(c) ?? 'unknown'
      inst.actuation.refused(point.path, requested, { via: 'unauthenticated', name: address, address }, err instanceof HTTPException ? err.status : 403, (err as Error).message)
      throw err
    }
    if (requested === undefined) {
      throw new HTTPException(400, { message: `give exactly one state: ${c.req.method} /data${point.path}?state=V, where V is ${point.model.describe()}` })
    }
    const result = await inst.actuation.write(point.path, requested, principal)
    return c.json({ ...point.ts.toJSON(), State: result.state, Reading: result.reading })
  }
  app.put('/data/*', write)
  app.post('/data/*', write)
}
