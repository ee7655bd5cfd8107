import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import type { Context, Hono } from 'hono'

/** One file of the page, read once and kept with its gzip form (the whole page is about 100 KB). */
interface Asset {
  body: Buffer
  gzip: Buffer
  type: string
  etag: string
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
}

// the page talks to this server only, and may not be framed by another site (its buttons change equipment)
const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
}

/** `web/dist` of this package, from src/http (running from source) or dist (built). */
function pageDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === '@smap/core') return join(dir, 'web', 'dist')
    const up = dirname(dir)
    if (up === dir) return join(dirname(fileURLToPath(import.meta.url)), 'web')
    dir = up
  }
}

/** Whether a request asks for a page: a browser's Accept names text/html; API clients (curl's `*\/*`, fetch's default) get JSON. */
export function wantsPage(c: Context): boolean {
  return /(^|,)\s*text\/html\s*(;|,|$)/i.test(c.req.header('accept') ?? '')
}

/**
 * The live view: `GET /` for a browser serves `index.html`, and `/page/FILE`
 * the files it loads, all from this package (nothing from elsewhere, so it
 * works on a gateway without internet). Files are read on the first request
 * and kept; each has an ETag, and gzip for clients that take it.
 */
export function mountPage(app: Hono): { index: (c: Context) => Promise<Response> } {
  let assets: Promise<Map<string, Asset> | undefined> | undefined
  const load = (): Promise<Map<string, Asset> | undefined> => {
    assets ??= (async () => {
      const dir = pageDir()
      let names: string[]
      try {
        names = await readdir(dir)
      } catch {
        return undefined
      }
      const out = new Map<string, Asset>()
      for (const name of names) {
        const type = TYPES[extname(name)]
        if (type === undefined) continue
        const body = await readFile(join(dir, name))
        out.set(name, { body, gzip: gzipSync(body, { level: 9 }), type, etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 16)}"` })
      }
      return out
    })()
    return assets
  }
  const send = async (c: Context, name: string): Promise<Response> => {
    const files = await load()
    if (files === undefined) {
      return c.json({ error: 'the live view is not built in this copy of @smap/core: run `npm run setup` (or `pnpm run build`) in the checkout; the JSON API works without it' }, 503)
    }
    const asset = files.get(name)
    if (asset === undefined) return c.json({ error: `no file ${name} in the live view; it has ${[...files.keys()].join(', ')}` }, 404)
    const headers: Record<string, string> = { 'Content-Type': asset.type, ETag: asset.etag, 'Cache-Control': 'no-cache', Vary: 'Accept, Accept-Encoding', ...(name.endsWith('.html') ? PAGE_HEADERS : { 'X-Content-Type-Options': 'nosniff' }) }
    if (c.req.header('if-none-match') === asset.etag) return new Response(null, { status: 304, headers })
    const gzip = /\bgzip\b/.test(c.req.header('accept-encoding') ?? '')
    const body = gzip ? asset.gzip : asset.body
    return new Response(c.req.method === 'HEAD' ? null : new Uint8Array(body), { status: 200, headers: { ...headers, 'Content-Length': String(body.length), ...(gzip ? { 'Content-Encoding': 'gzip' } : {}) } })
  }
  app.get('/page/:file', (c) => send(c, c.req.param('file')))
  return { index: (c) => send(c, 'index.html') }
}
