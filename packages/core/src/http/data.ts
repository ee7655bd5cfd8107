import type { Context, Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { relativePath } from '../tree/path.js'
import type { Resource, TreeView } from '../tree/tree.js'
import { jsonStream, objectPieces } from './json-stream.js'

/** `/data`: the tree, one resource or a whole subtree (`PATH/+`). */
export function mountData(app: Hono, tree: TreeView, allowed: (path: string) => string | undefined = () => undefined): void {
  const getData = (c: Context): Response => {
    let path = c.req.path.slice('/data'.length) || '/'
    const all = path === '/+' || path.endsWith('/+')
    if (all) path = path.slice(0, -1) || '/'
    const resource = tree.lookup(path)
    if (!resource) throw new HTTPException(404, { message: `no resource at /data${path === '/' ? '' : path.replace(/\/$/, '')}` })
    if (!all) return c.json(resource.toJSON())
    // each resource as it is when its part is written; the body is never whole in memory
    return jsonStream(c, objectPieces(subtree(tree, resource.path)))
  }
  app.get('/data', getData)
  app.get('/data/*', getData)
  const methodNotAllowed = (c: Context): Response => {
    const allow = allowed(c.req.path.slice('/data'.length) || '/') ?? 'GET, HEAD'
    return notAllowed(c, allow, `${c.req.method} is not allowed on ${c.req.path}; use ${allow === 'GET, HEAD' ? 'GET' : 'GET, or PUT with ?state= to write'}`)
  }
  app.all('/data', methodNotAllowed)
  app.all('/data/*', methodNotAllowed)
}

function* subtree(tree: TreeView, root: string): Generator<[string, Resource]> {
  for (const r of tree.resources(root)) yield [relativePath(root, r.path), r]
}

/** 405 with the methods that would work, in `Allow`. */
export function notAllowed(c: Context, allow: string, message: string): Response {
  c.header('Allow', allow)
  return c.json({ error: message }, 405)
}
