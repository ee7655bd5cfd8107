import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { join } from 'node:path'

/** PEM files a test made in `dir` with openssl: a CA, a server certificate it signed, a client it signed, and a client signed by another CA. */
export interface TestPki {
  caCert: string
  serverKey: string
  serverCert: string
  clientKey: string
  clientCert: string
  rogueKey: string
  rogueCert: string
}

const openssl = (dir: string, args: string[]): void => {
  execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: 'pipe' })
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes']

function makeCa(dir: string, name: string, subject: string): void {
  openssl(dir, ['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject])
}

function sign(dir: string, name: string, ca: string, subject: string, ext: string): void {
  writeFileSync(join(dir, `${name}.ext`), ext)
  openssl(dir, ['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject])
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`])
}

/** Makes the certificates in `dir`; the server's is good for 127.0.0.1, localhost and `ips`. Keys are made fresh each run, never committed. */
export function makePki(dir: string, ips: string[] = []): TestPki {
  makeCa(dir, 'ca', '/CN=smap test CA')
  makeCa(dir, 'rogue-ca', '/CN=someone else')
  const san = ['DNS:localhost', 'IP:127.0.0.1', ...ips.map((ip) => `IP:${ip}`)].join(',')
  sign(dir, 'server', 'ca', '/CN=localhost', `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`)
  sign(dir, 'client', 'ca', '/O=Test Site/CN=scada', 'extendedKeyUsage=clientAuth\n')
  sign(dir, 'rogue', 'rogue-ca', '/CN=intruder', 'extendedKeyUsage=clientAuth\n')
  const at = (f: string): string => join(dir, f)
  return {
    caCert: at('ca.pem'),
    serverKey: at('server.key'),
    serverCert: at('server.pem'),
    clientKey: at('client.key'),
    clientCert: at('client.pem'),
    rogueKey: at('rogue.key'),
    rogueCert: at('rogue.pem'),
  }
}

/** Options of `httpsRequest`. */
export interface HttpsRequestOptions {
  /** The CA the server's certificate is checked against. */
  ca: string
  /** A client certificate and its key, as PEM files. */
  cert?: string
  key?: string
  method?: string
  headers?: Record<string, string>
}

/** One HTTPS request with node:https (fetch cannot be given a CA or a client certificate): its status and body, or the error that ended it. */
export function httpsRequest(url: string, o: HttpsRequestOptions): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: o.method ?? 'GET',
        headers: o.headers,
        ca: readFileSync(o.ca),
        ...(o.cert && o.key ? { cert: readFileSync(o.cert), key: readFileSync(o.key) } : {}),
        agent: false,
      },
      (res) => {
        let body = ''
        res.on('data', (d: Buffer) => (body += d.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        res.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }))
      },
    )
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message }))
    req.end()
  })
}
