import { execFile, execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

// A network namespace joined to this one by a veth pair, so that a test can
// send a request from an address that is not loopback: the server binds the
// host side, the client runs inside with `ip netns exec`.

const run = promisify(execFile)

/** A namespace and its two addresses; `fetchFrom` runs a client inside it. */
export interface Netns {
  /** The namespace's name, for `ip netns exec NAME ...`. */
  name: string
  /** The host side's address: bind the server here. */
  hostIp: string
  /** The client's address inside the namespace, as the server sees it. */
  clientIp: string
  /** One request made from inside the namespace: its status and body, or the error that ended it. */
  fetchFrom(url: string, o?: { method?: string; headers?: Record<string, string>; ca?: string; cert?: string; key?: string }): Promise<{ status: number; body: string } | { error: string }>
  remove(): void
}

const CLIENT = `
import { readFileSync } from 'node:fs'
import { request } from 'node:https'
const [url, json] = process.argv.slice(2)
const o = JSON.parse(json)
const done = (r) => { process.stdout.write(JSON.stringify(r)); process.exit(0) }
if (url.startsWith('http:')) {
  try {
    const res = await fetch(url, { method: o.method ?? 'GET', headers: o.headers ?? {} })
    done({ status: res.status, body: await res.text() })
  } catch (err) { done({ error: String(err.cause?.code ?? err.message) }) }
} else {
  const tls = { ca: readFileSync(o.ca), ...(o.cert ? { cert: readFileSync(o.cert), key: readFileSync(o.key) } : {}) }
  const req = request(url, { method: o.method ?? 'GET', headers: o.headers ?? {}, ...tls }, (res) => {
    let body = ''
    res.on('data', (d) => (body += d))
    res.on('end', () => done({ status: res.statusCode, body }))
    res.on('error', (err) => done({ error: err.code ?? err.message }))
  })
  req.on('error', (err) => done({ error: err.code ?? err.message }))
  req.end()
}
`

/** Makes the namespace, or says why this machine will not (not root, no CAP_NET_ADMIN, no veth). */
export function createNetns(dir: string): Netns | { refused: string } {
  if (process.getuid?.() !== 0) return { refused: 'not root: a network namespace needs CAP_NET_ADMIN' }
  const n = process.pid % 250
  const ns = `smap-auth-${process.pid}`
  const host = `sah${process.pid}`.slice(0, 15)
  const peer = `san${process.pid}`.slice(0, 15)
  const hostIp = `10.213.${n}.1`
  const clientIp = `10.213.${n}.2`
  const ip = (...args: string[]): void => {
    execFileSync('ip', args, { stdio: 'pipe' })
  }
  const remove = (): void => {
    for (const args of [['netns', 'del', ns], ['link', 'del', host]]) {
      try {
        ip(...args)
      } catch {
        // already gone: deleting the namespace takes the veth pair with it
      }
    }
  }
  try {
    ip('netns', 'add', ns)
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer)
    ip('link', 'set', peer, 'netns', ns)
    ip('addr', 'add', `${hostIp}/30`, 'dev', host)
    ip('link', 'set', host, 'up')
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${clientIp}/30`, 'dev', peer)
    ip('netns', 'exec', ns, 'ip', 'link', 'set', peer, 'up')
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  } catch (err) {
    remove()
    return { refused: `this machine refuses a network namespace with a veth pair: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}` }
  }
  const script = join(dir, 'netns-client.mjs')
  writeFileSync(script, CLIENT)
  return {
    name: ns,
    hostIp,
    clientIp,
    async fetchFrom(url, o = {}) {
      const { stdout } = await run('ip', ['netns', 'exec', ns, process.execPath, script, url, JSON.stringify(o)], { timeout: 15_000 })
      return JSON.parse(stdout) as { status: number; body: string } | { error: string }
    },
    remove,
  }
}
