import { gunzipSync } from 'node:zlib'
import { serve, SmapInstance, type SmapServer } from '@smap/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

// The live view's files as the server sends them (the page itself runs in Chromium in test/live-view.test.ts).
describe('the live view over HTTP', () => {
  let server: SmapServer
  beforeAll(async () => {
    const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92', { logger: { info() {}, warn() {}, error() {} } })
    server = await serve(inst, { port: 0 })
  })
  afterAll(() => server.close())

  it('answers a browser with the page and anything else with the root collection, varying on Accept', async () => {
    for (const accept of [undefined, '*/*', 'application/json', 'application/json, text/plain']) {
      const res = await fetch(server.url, { headers: accept ? { Accept: accept } : {} })
      expect(res.headers.get('content-type'), String(accept)).toMatch(/^application\/json/)
      expect(res.headers.get('vary')).toBe('Accept')
      expect(await res.json()).toEqual({ Contents: ['data', 'reports'] })
    }
    const page = await fetch(server.url, { headers: { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } })
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(page.headers.get('x-frame-options')).toBe('DENY')
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    const html = await page.text()
    expect(html).toContain('<script defer src="/page/main.js"></script>')
    expect(html).not.toMatch(/https?:\/\//) // nothing from elsewhere
  })

  it('serves each file with an ETag (304 when it is unchanged), gzip to those who take it, and HEAD', async () => {
    const plain = await fetch(`${server.url}/page/main.js`, { headers: { 'Accept-Encoding': 'identity' } })
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(plain.headers.get('content-encoding')).toBeNull()
    const body = Buffer.from(await plain.arrayBuffer())
    expect(Number(plain.headers.get('content-length'))).toBe(body.length)
    const etag = plain.headers.get('etag') as string
    expect(etag).toMatch(/^"[\w-]{16}"$/)

    const again = await fetch(`${server.url}/page/main.js`, { headers: { 'If-None-Match': etag } })
    expect(again.status).toBe(304)

    // node's fetch would unpack gzip by itself: ask with node:http semantics through a raw request
    const { request } = await import('node:http')
    const zipped = await new Promise<{ encoding: string | undefined; bytes: Buffer }>((resolve, reject) => {
      request(`${server.url}/page/main.css`, { headers: { 'Accept-Encoding': 'gzip, br' } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (d: Buffer) => chunks.push(d))
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], bytes: Buffer.concat(chunks) }))
      }).on('error', reject).end()
    })
    expect(zipped.encoding).toBe('gzip')
    expect(gunzipSync(zipped.bytes).toString()).toContain('li.stream')

    const head = await fetch(`${server.url}/page/main.css`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(1000)
  })

  it('names the files it has when asked for another', async () => {
    const res = await fetch(`${server.url}/page/app.js`)
    expect(res.status).toBe(404)
    expect(((await res.json()) as { error: string }).error).toMatch(/^no file app\.js in the live view; it has .*main\.js/)
  })
})
