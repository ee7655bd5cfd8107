import type { Context, Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { SmapInstance } from '../instance.js'
import { normalizePath } from '../tree/path.js'
import { authorize, remoteAddress } from './auth.js'
import { notAllowed } from './data.js'

const ONE = 'GET, HEAD, PUT'

/** How a driver's path is written in these URLs: `/+` for the root driver (`/` would be `/drivers/` itself). */
export function driverUrlPath(path: string): string {
  return path === '/' ? '/+' : path
}

/**
 * `/drivers`: `GET /drivers` lists the attached drivers with their status, as
 * `/status` has them; `GET /drivers/PATH` shows one; `POST
 * /drivers/PATH/restart` restarts it now; `PUT /drivers/PATH?enabled=false`
 * disables it (kept across restarts) and `?enabled=true` enables it again.
 * The root driver's PATH is `/+`. Reading is open, as `GET /data` is;
 * changes need the right to actuate and are audited.
 */
export function mountDrivers(app: Hono, inst: SmapInstance): void {
  const attached = (): string => {
    const paths = [...inst.drivers.keys()].map(driverUrlPath)
    return paths.length === 0 ? 'this source has no drivers' : `attached: ${paths.join(', ')}`
  }
  /** The driver a URL path names, if one is attached there. */
  const find = (rest: string): string | undefined => {
    if (rest === '/+') return inst.drivers.has('/') ? '/' : undefined
    let path: string
    try {
      path = normalizePath(rest)
    } catch {
      // `/+/restart`: the root driver's, which the caller looks up next
      if (rest === '/+/restart') return undefined
      throw new HTTPException(400, { message: `${rest.slice(0, 100)} is not a driver path: give the path the driver is attached at, e.g. /drivers/thermostat (the root driver is /drivers/+)` })
    }
    return path !== '/' && inst.drivers.has(path) ? path : undefined
  }
  const noDriver = (c: Context, rest: string): never => {
    throw new HTTPException(404, { message: `no driver is attached at ${rest.replace(/\/$/, '') || '/'} (${c.req.path.slice(0, 200)}); ${attached()}` })
  }
  const show = (path: string): Record<string, unknown> => ({ path, ...(inst.driverStatus()[path] ?? {}) })
  /** Who may change drivers: as for actuation; a refusal is audited too. */
  const allowed = (c: Context, path: string, state: string) => {
    try {
      return authorize(c, inst, 'actuate')
    } catch (err) {
      const address = remoteAddress(c) ?? 'unknown'
      const status = err instanceof HTTPException ? err.status : 403
      void inst.actuation.audit.record({ time: Date.now(), principal: { via: 'unauthenticated', name: address, address }, path, state, kind: 'driver', result: 'forbidden', status, message: (err as Error).message })
      throw err
    }
  }

  app.get('/drivers', (c) => c.json(inst.driverStatus()))
  app.all('/drivers', (c) => notAllowed(c, 'GET, HEAD', `${c.req.method} is not allowed on /drivers; use GET, or POST /drivers/PATH/restart and PUT /drivers/PATH?enabled=true|false on one driver`))

  app.all('/drivers/*', async (c) => {
    const rest = c.req.path.slice('/drivers'.length)
    const method = c.req.method
    const driver = find(rest)
    if (driver === undefined) {
      const target = rest.endsWith('/restart') ? find(rest.slice(0, -'/restart'.length)) : undefined
      if (target === undefined) return noDriver(c, rest)
      if (method !== 'POST') return notAllowed(c, 'POST', `${method} is not allowed on ${c.req.path}; use POST to restart driver ${target}`)
      const principal = allowed(c, target, 'restart')
      await inst.restartDriver(target, principal)
      return c.json(show(target), 202)
    }
    if (method === 'GET' || method === 'HEAD') return c.json(show(driver))
    if (method !== 'PUT') {
      const hint = method === 'POST' ? `; to restart it, POST /drivers${driverUrlPath(driver)}/restart` : ''
      return notAllowed(c, ONE, `${method} is not allowed on ${c.req.path}; use GET, or PUT with ?enabled=true|false${hint}`)
    }
    const given = c.req.queries('enabled') ?? []
    const value = given.length === 1 ? given[0]?.toLowerCase() : undefined
    const principal = allowed(c, driver, value === 'false' ? 'disabled' : value === 'true' ? 'enabled' : 'invalid')
    if (value !== 'true' && value !== 'false') {
      const got = given.length === 0 ? 'none was given' : `got ${given.map((g) => JSON.stringify(g.slice(0, 40))).join(', ')}`
      throw new HTTPException(400, { message: `give exactly one enabled=true or enabled=false (${got}): PUT /drivers${driverUrlPath(driver)}?enabled=false disables the driver, ?enabled=true enables it` })
    }
    await inst.setDriverEnabled(driver, value === 'true', principal)
    return c.json(show(driver))
  })
}
