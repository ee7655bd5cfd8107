import type { Context, Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { SmapInstance } from '../instance.js'
import { authorize, type Scope } from './auth.js'
import { notAllowed } from './data.js'

/** What one scope comes to for the client asking: who it is taken for, or why it is refused. */
type Access = { allowed: true; via: string; name: string } | { allowed: false; why: string }

/**
 * `GET /access`: what this client may do, so that a page can disable the
 * controls it may not use and say why. Each scope is decided by `authorize`,
 * exactly as the routes it guards decide it, and the answer is always 200: a
 * refusal here is information, not an error. Only the Principal's `via` and
 * `name` are given, never a secret.
 */
export function mountAccess(app: Hono, inst: SmapInstance): void {
  const ask = (c: Context, scope: Scope): Access => {
    try {
      const { via, name } = authorize(c, inst, scope)
      return { allowed: true, via, name }
    } catch (err) {
      if (!(err instanceof HTTPException)) throw err
      return { allowed: false, why: err.message }
    }
  }
  app.get('/access', (c) => {
    const answer = { actuate: ask(c, 'actuate'), reports: ask(c, 'reports') } satisfies Record<Scope, Access>
    // authorize asks for a token with a 401's header; this answer is a 200
    c.header('WWW-Authenticate', undefined)
    // it depends on who asks (address, Authorization), so no cache may hand it to another
    c.header('Cache-Control', 'no-store')
    return c.json(answer)
  })
  app.all('/access', (c) => notAllowed(c, 'GET, HEAD', `${c.req.method} is not allowed on /access; use GET`))
}
