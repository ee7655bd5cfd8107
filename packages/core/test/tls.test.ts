import type { Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve as serveNode } from '@hono/node-server'
import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, dumpText, loadText, serve, type Logger, type SmapInstance, type SmapServer } from '@smap/core'
import { authorize } from '../src/http/auth.js'
import { tlsOptions } from '../src/http/serve.js'
import { httpsRequest, makePki, type TestPki } from './_tls.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} }

let dir: string
let pki: TestPki
let conf: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smap-tls-'))
  conf = join(dir, 'conf.ini')
  pki = makePki(dir)
})
afterAll(async () => {
  await rm(dir, { recursive: true, force: true })
})

const load = (server: string[]): Promise<SmapInstance> =>
  loadText([...server, `DataDir = ${join(dir, 'data')}`, '', '[/]', `uuid = ${ROOT}`, ''].join('\n'), conf, { logger: quiet })

async function problem(server: string[]): Promise<string> {
  try {
    await load(server)
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as ConfigError).message.replaceAll(dir, 'DIR')
  }
  throw new Error('expected a ConfigError')
}

describe('serving HTTPS', () => {
  let server: SmapServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('serves the same app on HTTPS beside HTTP, on the same loopback host', async () => {
    server = await serve(await load(['[server]', 'TlsPort = 0', 'TlsKey = server.key', 'TlsCert = server.pem']), { port: 0 })
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`)
    expect(server.tlsUrl).toBe(`https://127.0.0.1:${server.tlsPort}`)
    expect(server.tlsPort).not.toBe(server.port)
    expect(await httpsRequest(`${server.tlsUrl}/`, { ca: pki.caCert })).toEqual({ status: 200, body: '{"Contents":["data","reports"]}' })
    expect((await fetch(`${server.url}/`)).status).toBe(200)
  })

  it('reads the original sMAP names SslPort, SslKey, SslCert, SslCA and SslVerify, in any case', async () => {
    const inst = await load(['[server]', 'sslport = 0', 'SSLKEY = server.key', 'SslCert = server.pem', 'SslCA = ca.pem', 'SslVerify = true'])
    expect(inst.server).toMatchObject({ tlsPort: 0, tlsKey: pki.serverKey, tlsCert: pki.serverCert, tlsCA: pki.caCert, tlsVerifyClients: true })
    // dump writes the names of this version, relative to the config's folder
    expect(dumpText(inst, dir)).toContain('TlsPort = 0\nTlsKey = server.key\nTlsCert = server.pem\nTlsCA = ca.pem\nTlsVerifyClients = true\n')
    expect(await problem(['[server]', 'TlsPort = 0', 'SslPort = 0', 'TlsKey = server.key', 'TlsCert = server.pem'])).toBe('DIR/conf.ini:3 [server] SslPort: the same setting as TlsPort on line 2; keep one')
  })

  it('can turn plain HTTP off, leaving only HTTPS', async () => {
    server = await serve(await load(['[server]', 'Http = false', 'TlsPort = 0', 'TlsKey = server.key', 'TlsCert = server.pem']))
    expect(server.url).toBe(server.tlsUrl)
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    expect(await httpsRequest(`${server.url}/`, { ca: pki.caCert })).toMatchObject({ status: 200 })
    expect(await problem(['[server]', 'Http = false'])).toBe(
      'DIR/conf.ini:2 [server] Http: with plain HTTP off there is no way in: add TlsPort, TlsKey and TlsCert to serve HTTPS, or remove this line',
    )
  })

  it('refuses a client without a certificate signed by TlsCA at the handshake when TlsVerifyClients is on', async () => {
    server = await serve(await load(['[server]', 'TlsPort = 0', 'TlsKey = server.key', 'TlsCert = server.pem', 'TlsCA = ca.pem', 'TlsVerifyClients = on']), { port: 0 })
    const url = `${server.tlsUrl}/reports`
    expect(await httpsRequest(url, { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey })).toEqual({ status: 200, body: '{"Contents":[]}' })
    // TLS 1.3 sends the refusal after the client's finished message: the request fails either way, with no answer
    expect(await httpsRequest(url, { ca: pki.caCert })).toEqual({ error: expect.stringMatching(/ECONNRESET|ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED|EPIPE/) })
    expect(await httpsRequest(url, { ca: pki.caCert, cert: pki.rogueCert, key: pki.rogueKey })).toEqual({ error: expect.stringMatching(/ECONNRESET|ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|EPIPE/) })
  })
})

describe('client certificates', () => {
  let inst: SmapInstance
  let who: Server
  let base: string
  beforeAll(async () => {
    inst = await load(['[server]', 'TlsPort = 0', 'TlsKey = server.key', 'TlsCert = server.pem', 'TlsCA = ca.pem'])
    // what actuation routes will do: ask authorize for 'actuate', here over the server's own TLS settings
    const app = new Hono()
    app.get('/who', (c) => c.json(authorize(c, inst, 'actuate')))
    app.onError((err, c) => (err instanceof HTTPException ? c.json({ error: err.message }, err.status as ContentfulStatusCode) : c.json({ error: String(err) }, 500)))
    const serverOptions = await tlsOptions(inst.server)
    who = await new Promise<Server>((resolve) => {
      const s = serveNode({ fetch: app.fetch, port: 0, hostname: '127.0.0.1', createServer: createHttpsServer, serverOptions }, () => resolve(s as Server)) as Server
    })
    base = `https://127.0.0.1:${(who.address() as AddressInfo).port}`
  })
  afterAll(async () => {
    await new Promise<void>((resolve) => who.close(() => resolve()))
  })

  it('make a client signed by TlsCA a certificate principal named by its subject', async () => {
    expect(await httpsRequest(`${base}/who`, { ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey })).toEqual({
      status: 200,
      body: JSON.stringify({ via: 'certificate', name: 'O=Test Site, CN=scada', address: '127.0.0.1' }),
    })
  })

  it('give nothing when another CA signed it, or there is none: the client is judged by its address', async () => {
    const loopback = JSON.stringify({ via: 'loopback', name: '127.0.0.1', address: '127.0.0.1' })
    expect(await httpsRequest(`${base}/who`, { ca: pki.caCert, cert: pki.rogueCert, key: pki.rogueKey })).toEqual({ status: 200, body: loopback })
    expect(await httpsRequest(`${base}/who`, { ca: pki.caCert })).toEqual({ status: 200, body: loopback })
  })
})

describe('TLS settings', () => {
  it('are errors at load naming the file that cannot be read', async () => {
    expect(await problem(['[server]', 'TlsPort = 8443', 'TlsKey = missing.key', 'TlsCert = server.pem'])).toBe('DIR/conf.ini:3 [server] TlsKey: cannot read DIR/missing.key: no such file')
    expect(await problem(['[server]', 'TlsPort = 8443', 'TlsKey = server.key', 'TlsCert = .'])).toBe('DIR/conf.ini:4 [server] TlsCert: cannot read DIR: it is a directory')
  })

  it('are errors at load when the files do not make a TLS server', async () => {
    await writeFile(join(dir, 'junk.pem'), 'not a certificate\n')
    await copyFile(pki.clientCert, join(dir, 'other.pem'))
    expect(await problem(['[server]', 'TlsPort = 8443', 'TlsKey = server.key', 'TlsCert = junk.pem'])).toMatch(
      /^DIR\/conf\.ini:3 \[server\] TlsKey: DIR\/server\.key, DIR\/junk\.pem do not make a TLS server \(.+\): give a PEM private key, the certificate made for it and a PEM CA certificate$/,
    )
    expect(await problem(['[server]', 'TlsPort = 8443', 'TlsKey = server.key', 'TlsCert = other.pem'])).toMatch(/do not make a TLS server \(.*key values mismatch.*\)/)
  })

  it('must come together', async () => {
    expect(await problem(['[server]', 'TlsPort = 8443', 'TlsKey = server.key'])).toBe(
      "DIR/conf.ini:2 [server] TlsPort: HTTPS needs TlsCert too (the server's PEM private key and certificate); add it, or remove TlsPort",
    )
    expect(await problem(['[server]', 'TlsCert = server.pem'])).toBe('DIR/conf.ini:2 [server] TlsCert: TLS is served only on TlsPort: add "TlsPort = 8443" (with TlsKey and TlsCert), or remove this line')
    expect(await problem(['[server]', 'TlsPort = 8443', 'TlsKey = server.key', 'TlsCert = server.pem', 'TlsVerifyClients = true'])).toBe(
      'DIR/conf.ini:5 [server] TlsVerifyClients: checking client certificates needs TlsCA, the CA certificate that signs them; add it, or remove this line',
    )
    expect(await problem(['[server]', 'Port = 8443', 'TlsPort = 8443', 'TlsKey = server.key', 'TlsCert = server.pem'])).toBe(
      'DIR/conf.ini:3 [server] TlsPort: HTTP already listens on port 8443; give TlsPort a port of its own',
    )
  })
})
