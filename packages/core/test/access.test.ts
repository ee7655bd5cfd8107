import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, loadText, serve, type Logger, type SmapInstance, type SmapServer } from '@smap/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} }
const SCADA = 'scada-token-0123456789'
const MALFORMED = 'malformed Authorization header: expected "Bearer TOKEN", the token being one of [token NAME] or [server] ReportToken'

/** An instance with one token, scada, of scope actuate only, and no ReportToken. */
async function make(dataDir: string): Promise<SmapInstance> {
  process.env.SMAP_TEST_ACCESS_SCADA = SCADA
  const text = ['[server]', `DataDir = ${dataDir}`, '', '[token scada]', 'Secret = env:SMAP_TEST_ACCESS_SCADA', 'Scope = actuate', '', '[/]', `uuid = ${ROOT}`, ''].join('\n')
  return loadText(text, join(tmpdir(), 'conf.ini'), { logger: quiet })
}

/** The answer's status, headers and raw text, so a test can look for the secret in what was sent. */
async function answer(res: Response): Promise<{ status: number; headers: Headers; text: string }> {
  return { status: res.status, headers: res.headers, text: await res.text() }
}

describe('GET /access', () => {
  let dir: string
  let inst: SmapInstance
  let server: SmapServer
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-access-'))
    inst = await make(join(dir, 'data'))
    server = await serve(inst, { port: 0 })
  })
  afterAll(async () => {
    await server.close()
    await rm(dir, { recursive: true, force: true })
  })
  const local = async (auth?: string, method = 'GET'): Promise<{ status: number; headers: Headers; text: string }> =>
    answer(await fetch(`${server.url}/access`, { method, headers: auth ? { Authorization: auth } : {} }))
  /** A client on another machine, as the socket would show it. */
  const remote = async (auth?: string): Promise<{ status: number; headers: Headers; text: string }> =>
    answer(await createApp(inst).fetch(new Request('http://source/access', { headers: auth ? { Authorization: auth } : {} }), { incoming: { socket: { remoteAddress: '10.1.2.3' } } }))

  it('lets this machine do both, as loopback', async () => {
    const res = await local()
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(JSON.parse(res.text)).toEqual({
      actuate: { allowed: true, via: 'loopback', name: '127.0.0.1' },
      reports: { allowed: true, via: 'loopback', name: '127.0.0.1' },
    })
  })

  it('names the token that allows actuate, and keeps loopback for reports, which the token lacks', async () => {
    const res = await local(`Bearer ${SCADA}`)
    expect(res.status).toBe(200)
    expect(JSON.parse(res.text)).toEqual({
      actuate: { allowed: true, via: 'token', name: 'scada' },
      reports: { allowed: true, via: 'loopback', name: '127.0.0.1' },
    })
    expect(res.text).not.toContain(SCADA)
  })

  it('tells another machine with the actuate token that reports are refused, and why', async () => {
    const res = await remote(`Bearer ${SCADA}`)
    expect(res.status).toBe(200)
    expect(JSON.parse(res.text)).toEqual({
      actuate: { allowed: true, via: 'token', name: 'scada' },
      reports: { allowed: false, why: 'token scada has scope actuate, which lacks reports; add it in [token scada]: Scope = actuate, reports' },
    })
    expect(res.text).not.toContain(SCADA)
    expect(JSON.parse((await remote()).text)).toEqual({
      actuate: { allowed: false, why: 'equipment can be changed only from this machine or with a bearer token (Authorization: Bearer ...)' },
      reports: { allowed: false, why: 'subscriptions can be managed only from this machine; set ReportToken in [server] to allow others with a bearer token' },
    })
  })

  it('answers a wrong token and a malformed header with 200 and the refusals, not 401 or 403', async () => {
    const wrong = await remote('Bearer not-the-scada-token-at-all')
    expect(wrong.status).toBe(200)
    expect(JSON.parse(wrong.text)).toEqual({
      actuate: { allowed: false, why: 'equipment can be changed only from this machine or with a bearer token (Authorization: Bearer ...); the bearer token sent is not one of them' },
      reports: { allowed: false, why: 'subscriptions can be managed only from this machine; set ReportToken in [server] to allow others with a bearer token' },
    })
    for (const res of [await local('Basic dXNlcjpwYXNz'), await remote(`Token ${SCADA}`)]) {
      expect(res.status).toBe(200)
      expect(res.headers.get('www-authenticate')).toBeNull()
      expect(JSON.parse(res.text)).toEqual({ actuate: { allowed: false, why: MALFORMED }, reports: { allowed: false, why: MALFORMED } })
      expect(res.text).not.toContain(SCADA)
    }
  })

  it('answers HEAD with the headers only, and other methods with 405 and Allow: GET, HEAD', async () => {
    const head = await local(undefined, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers.get('content-type')).toMatch(/^application\/json/)
    expect(head.text).toBe('')
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await local(`Bearer ${SCADA}`, method)
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('GET, HEAD')
      expect(JSON.parse(res.text)).toEqual({ error: `${method} is not allowed on /access; use GET` })
    }
  })
})
