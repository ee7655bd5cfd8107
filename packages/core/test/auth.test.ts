import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve as serveNode } from '@hono/node-server'
import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineDriver } from '@smap/sdk'
import { loadText, serve, type Logger, type Scope, type SmapInstance, type SmapServer } from '@smap/core'
import { authorize, isLoopback, sameSecret } from '../src/http/auth.js'
import { createNetns, type Netns } from './_netns.js'
import { makePki, type TestPki } from './_tls.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} }
const REPORTS = 'report-token-0123456789'
const SCADA = 'scada-token-0123456789'
const BOTH = 'both-token-0123456789'

/** A config with ReportToken, an actuate token and one of both scopes; the env is set first. */
async function loadTokens(extra: string[] = []): Promise<SmapInstance> {
  process.env.SMAP_TEST_REPORTS = REPORTS
  process.env.SMAP_TEST_SCADA = SCADA
  process.env.SMAP_TEST_BOTH = BOTH
  const text = [
    '[server]', 'ReportToken = env:SMAP_TEST_REPORTS', ...extra, '',
    '[token scada]', 'Secret = env:SMAP_TEST_SCADA', 'Scope = actuate', '',
    '[token ops]', 'Secret = env:SMAP_TEST_BOTH', 'Scope = actuate, reports', '',
    '[/]', `uuid = ${ROOT}`, '',
  ].join('\n')
  return await loadText(text, join(tmpdir(), 'conf.ini'), { logger: quiet })
}

/** A small app whose one route asks `authorize` for the scope in its path and answers with the Principal: what actuation routes will do. */
function whoami(inst: SmapInstance): Hono {
  const app = new Hono()
  app.all('/who/:scope', (c) => c.json(authorize(c, inst, c.req.param('scope') as Scope)))
  app.onError((err, c) => (err instanceof HTTPException ? c.json({ error: err.message }, err.status as ContentfulStatusCode) : c.json({ error: String(err) }, 500)))
  return app
}

describe('ReportClients', () => {
  it('takes CIDR networks and addresses, IPv4 and IPv6, and refuses anything else with the line', async () => {
    const inst = await loadTokens(['ReportClients = 10.0.0.0/8, 192.168.1.20, fd00::/8'])
    expect(inst.server.reportClients).toEqual(['10.0.0.0/8', '192.168.1.20', 'fd00::/8'])
    for (const bad of ['10.0.0.0/33', 'archiver.local', '10.0.0.0/8/1']) {
      const err = await loadTokens([`ReportClients = ${bad}`]).catch((e: unknown) => e as Error)
      expect((err as Error).message).toContain(`[server] ReportClients: "${bad}" is not a network: expected addresses or CIDR networks`)
    }
  })
})

describe('isLoopback', () => {
  it('counts all of 127.0.0.0/8, ::1 and mapped 127.x as this machine, and nothing else', () => {
    expect(['127.0.0.1', '127.0.0.2', '127.255.10.1', '::1', '::ffff:127.0.0.1', '::ffff:127.3.2.1'].filter(isLoopback)).toHaveLength(6)
    expect(['10.0.0.1', '::ffff:10.0.0.1', '128.0.0.1', '0.0.0.0', '::', '', 'localhost', '::ffff:1.127.0.0', '1127.0.0.1', undefined].some(isLoopback)).toBe(false)
  })
})

describe('sameSecret', () => {
  it('matches only the same bytes, whatever the length', () => {
    expect(sameSecret(SCADA, SCADA)).toBe(true)
    expect(sameSecret(SCADA, `${SCADA}x`)).toBe(false)
    expect(sameSecret(SCADA.replace('s', 'S'), SCADA)).toBe(false)
    expect(sameSecret('', SCADA)).toBe(false)
  })
})

describe('authorize', () => {
  let app: Hono
  beforeAll(async () => {
    app = whoami(await loadTokens())
  })
  const ask = async (scope: string, address: string, auth?: string): Promise<{ status: number; body: unknown; www?: string | null }> => {
    const res = await app.fetch(new Request(`http://source/who/${scope}`, { headers: auth ? { Authorization: auth } : {} }), { incoming: { socket: { remoteAddress: address } } })
    return { status: res.status, body: await res.json(), ...(res.status === 401 ? { www: res.headers.get('www-authenticate') } : {}) }
  }

  it('lets in a token whose scope includes the one asked, as that token', async () => {
    expect(await ask('actuate', '10.1.2.3', `Bearer ${SCADA}`)).toEqual({ status: 200, body: { via: 'token', name: 'scada', address: '10.1.2.3' } })
    expect(await ask('actuate', '10.1.2.3', `bearer ${BOTH}`)).toEqual({ status: 200, body: { via: 'token', name: 'ops', address: '10.1.2.3' } })
    expect(await ask('reports', '10.1.2.3', `Bearer ${BOTH}`)).toEqual({ status: 200, body: { via: 'token', name: 'ops', address: '10.1.2.3' } })
    expect(await ask('reports', '10.1.2.3', `Bearer ${REPORTS}`)).toEqual({ status: 200, body: { via: 'token', name: 'ReportToken', address: '10.1.2.3' } })
  })

  it("refuses a valid token of the wrong scope with 403, saying the token's scope lacks it", async () => {
    expect(await ask('reports', '10.1.2.3', `Bearer ${SCADA}`)).toEqual({
      status: 403,
      body: { error: 'token scada has scope actuate, which lacks reports; add it in [token scada]: Scope = actuate, reports' },
    })
    expect(await ask('actuate', '10.1.2.3', `Bearer ${REPORTS}`)).toEqual({
      status: 403,
      body: { error: 'token ReportToken has scope reports, which lacks actuate; ReportToken is for reports only: give this client a [token NAME] with Scope = reports, actuate' },
    })
  })

  it('refuses an unknown token with 403 and a malformed header with 401 and WWW-Authenticate: Bearer', async () => {
    expect(await ask('actuate', '10.1.2.3', 'Bearer not-any-token-at-all-here')).toEqual({
      status: 403,
      body: { error: 'equipment can be changed only from this machine or with a bearer token (Authorization: Bearer ...); the bearer token sent is not one of them' },
    })
    expect(await ask('actuate', '10.1.2.3')).toEqual({ status: 403, body: { error: 'equipment can be changed only from this machine or with a bearer token (Authorization: Bearer ...)' } })
    expect(await ask('actuate', '10.1.2.3', 'Basic dXNlcjpwYXNz')).toEqual({
      status: 401,
      body: { error: 'malformed Authorization header: expected "Bearer TOKEN", the token being one of [token NAME] or [server] ReportToken' },
      www: 'Bearer',
    })
    expect((await ask('reports', '127.0.0.1', 'Bearer'))).toMatchObject({ status: 401, www: 'Bearer' })
  })

  it('lets this machine do both, and a token of the wrong scope takes nothing away from it', async () => {
    for (const scope of ['reports', 'actuate']) {
      for (const address of ['127.0.0.2', '::1', '::ffff:127.0.0.1']) expect(await ask(scope, address)).toEqual({ status: 200, body: { via: 'loopback', name: address, address } })
    }
    expect(await ask('actuate', '127.0.0.1', `Bearer ${REPORTS}`)).toEqual({ status: 200, body: { via: 'loopback', name: '127.0.0.1', address: '127.0.0.1' } })
    expect(await ask('actuate', '::ffff:10.0.0.1')).toMatchObject({ status: 403 })
  })

  it('says how to let others in when no token has the scope', async () => {
    const bare = whoami(await loadText(`[/]\nuuid = ${ROOT}\n`, 'conf.ini', { logger: quiet }))
    const res = await bare.fetch(new Request('http://source/who/actuate'), { incoming: { socket: { remoteAddress: '10.1.2.3' } } })
    expect(await res.json()).toEqual({ error: 'equipment can be changed only from this machine; give clients a [token NAME] with Scope = actuate, or a TLS client certificate (TlsCA in [server])' })
  })
})

describe('a client on another machine (a network namespace)', () => {
  let dir: string
  let netns: Netns | undefined
  let refused = ''
  let source: SmapServer | undefined
  let who: Server | undefined
  let pki: TestPki
  const writes: string[] = []
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-netns-'))
    const made = createNetns(dir)
    if ('refused' in made) {
      refused = made.refused
      return
    }
    netns = made
    pki = makePki(dir, [made.hostIp])
    const inst = await loadTokens([`DataDir = ${join(dir, 'data')}`, 'TlsPort = 0', `TlsKey = ${pki.serverKey}`, `TlsCert = ${pki.serverCert}`, `TlsCA = ${pki.caCert}`])
    inst.addDriver('/plant', defineDriver({
      name: 'relay',
      setup(ctx) {
        ctx.addActuator('/relay', { unit: 'on/off', model: 'binary', write: (value, { principal }) => void writes.push(`${String(value)} by ${principal.via}:${principal.name}`) })
      },
      start() {},
    }), {}, { minWriteIntervalMs: 0 })
    source = await serve(inst, { host: made.hostIp, port: 0 })
    const app = whoami(inst)
    who = await new Promise<Server>((resolve) => {
      const s = serveNode({ fetch: app.fetch, port: 0, hostname: made.hostIp }, () => resolve(s as Server)) as Server
    })
  })
  afterAll(async () => {
    await source?.close()
    await new Promise<void>((resolve) => (who ? who.close(() => resolve()) : resolve()))
    netns?.remove()
    await rm(dir, { recursive: true, force: true })
  })

  it('is refused /reports without a token and let in with one', async (ctx) => {
    if (!netns || !source) return ctx.skip(refused)
    const url = `${source.url}/reports`
    expect(await netns.fetchFrom(url)).toEqual({
      status: 403,
      body: JSON.stringify({ error: 'subscriptions can be managed only from this machine or with a bearer token (Authorization: Bearer ...)' }),
    })
    expect(await netns.fetchFrom(url, { headers: { Authorization: `Bearer ${REPORTS}` } })).toEqual({ status: 200, body: '{"Contents":[]}' })
    expect(await netns.fetchFrom(url, { headers: { Authorization: `Bearer ${SCADA}` } })).toMatchObject({ status: 403 })
  })

  it('may actuate with an actuate token, as that token from its own address', async (ctx) => {
    if (!netns || !who) return ctx.skip(refused)
    const url = `http://${netns.hostIp}:${(who.address() as AddressInfo).port}/who/actuate`
    expect(await netns.fetchFrom(url)).toMatchObject({ status: 403 })
    expect(await netns.fetchFrom(url, { headers: { Authorization: `Bearer ${SCADA}` } })).toEqual({
      status: 200,
      body: JSON.stringify({ via: 'token', name: 'scada', address: netns.clientIp }),
    })
  })

  it('manages /reports from a client network listed in ReportClients without a token, as the original archiver does', async (ctx) => {
    if (!netns) return ctx.skip(refused)
    const inst = await loadTokens([`DataDir = ${join(dir, 'data-clients')}`, `ReportClients = 192.0.2.0/24, ${netns.clientIp.replace(/\.\d+$/, '.0')}/24`])
    const open = await serve(inst, { host: netns.hostIp, port: 0 })
    try {
      expect(await netns.fetchFrom(`${open.url}/reports`)).toEqual({ status: 200, body: '{"Contents":[]}' })
      const outsider = await loadTokens([`DataDir = ${join(dir, 'data-outsider')}`, 'ReportClients = 192.0.2.0/24'])
      const closed = await serve(outsider, { host: netns.hostIp, port: 0 })
      try {
        expect(await netns.fetchFrom(`${closed.url}/reports`)).toMatchObject({ status: 403 })
      } finally {
        await closed.close()
      }
    } finally {
      await open.close()
    }
  })

  it('is let in over HTTPS with a client certificate the CA signed, and not with one it did not', async (ctx) => {
    if (!netns || !source?.tlsUrl) return ctx.skip(refused)
    const url = `${source.tlsUrl}/reports`
    expect(await netns.fetchFrom(url, { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey })).toEqual({ status: 200, body: '{"Contents":[]}' })
    expect(await netns.fetchFrom(url, { ca: pki.caCert, cert: pki.rogueCert, key: pki.rogueKey })).toMatchObject({ status: 403 })
    expect(await netns.fetchFrom(url, { ca: pki.caCert })).toMatchObject({ status: 403 })
  })

  it('writes a real actuator point only with the right to: an actuate token or a client certificate, never without', async (ctx) => {
    if (!netns || !source?.tlsUrl) return ctx.skip(refused)
    const url = `${source.url}/data/plant/relay?state=on`
    const none = await netns.fetchFrom(url, { method: 'PUT' })
    expect(none).toMatchObject({ status: 403 })
    expect(JSON.parse((none as { body: string }).body).error).toContain('equipment can be changed only')
    expect(await netns.fetchFrom(url, { method: 'PUT', headers: { Authorization: `Bearer ${REPORTS}` } })).toMatchObject({ status: 403 })
    expect(writes).toEqual([])
    expect(await netns.fetchFrom(url, { method: 'PUT', headers: { Authorization: `Bearer ${SCADA}` } })).toMatchObject({ status: 200 })
    const tls = await netns.fetchFrom(`${source.tlsUrl}/data/plant/relay?state=off`, { method: 'POST', ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey })
    expect(tls).toMatchObject({ status: 200 })
    expect(writes).toEqual(['1 by token:scada', expect.stringMatching(/^0 by certificate:.*CN=/)])
  })
})
