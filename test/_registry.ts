import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

// A real npm registry for the publishing tests: verdaccio on loopback, its
// storage in a temp folder, our own package names served only from what the
// test publishes, every other name proxied to the registry npm is configured
// with (so third-party dependencies resolve without the test reaching the
// internet itself). Children get a temp .npmrc and npm cache, never the
// user's.

const exec = promisify(execFile)
const VERDACCIO = fileURLToPath(new URL('./node_modules/verdaccio/bin/verdaccio', import.meta.url))

/** Names the test publishes; the registry never looks them up upstream. */
const OWN = ['@smap/*', 'create-smap-driver', 'smap-driver-*']

export interface Registry {
  /** e.g. http://127.0.0.1:41234/ */
  url: string
  /** The temp folder holding the registry's storage, config, .npmrc and npm cache. */
  dir: string
  /** Environment for npm/pnpm children: this registry, its token, a temp cache, no user config. */
  env: NodeJS.ProcessEnv
  /** Everything verdaccio printed (for failure messages). */
  output: () => string
  /** Stops verdaccio (and anything it started) and removes the temp folder. */
  stop: () => Promise<void>
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** The registry `npm` is configured with here (the uplink). */
async function upstreamRegistry(): Promise<string> {
  const { stdout } = await exec('npm', ['config', 'get', 'registry'], { env: { ...process.env, npm_config_update_notifier: 'false' } })
  const url = stdout.trim()
  return url.endsWith('/') ? url : `${url}/`
}

function config(dir: string, port: number, upstream: string): string {
  const own = OWN.map((name) => `  '${name}':\n    access: $all\n    publish: $authenticated\n    unpublish: $authenticated\n`).join('')
  return `storage: ${JSON.stringify(join(dir, 'storage'))}
auth:
  htpasswd:
    file: ${JSON.stringify(join(dir, 'htpasswd'))}
    max_users: 10
    algorithm: bcrypt
    rounds: 4
uplinks:
  upstream:
    url: ${JSON.stringify(upstream)}
    timeout: 120s
    maxage: 30m
packages:
${own}  '**':
    access: $all
    publish: $authenticated
    proxy: upstream
server:
  keepAliveTimeout: 60
max_body_size: 200mb
listen: 127.0.0.1:${port}
log: { type: stdout, format: pretty, level: warn }
web:
  enable: false
`
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const kill = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-(child.pid as number), signal) // its process group: verdaccio and any child it has
    } catch {
      child.kill(signal)
    }
  }
  kill('SIGTERM')
  const timer = setTimeout(() => kill('SIGKILL'), 5_000)
  return exited.finally(() => clearTimeout(timer))
}

/** Starts verdaccio on a free loopback port, waits until it answers, and adds a user whose token the children use. */
export async function startRegistry(): Promise<Registry> {
  const dir = await mkdtemp(join(tmpdir(), 'smap-registry-'))
  const upstream = await upstreamRegistry()
  let child: ChildProcess | undefined
  let out = ''
  const killOnExit = (): void => {
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  const stop = async (): Promise<void> => {
    process.off('exit', killOnExit)
    if (child) await stopProcess(child)
    await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  }
  try {
    await mkdir(join(dir, 'storage'))
    for (let attempt = 0; ; attempt++) {
      const port = await freePort()
      const url = `http://127.0.0.1:${port}/`
      await writeFile(join(dir, 'config.yaml'), config(dir, port, upstream))
      out = ''
      child = spawn(process.execPath, [VERDACCIO, '--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`], {
        cwd: dir,
        detached: true, // its own process group, stopped as one
        env: { ...process.env, NODE_ENV: 'production' },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      process.on('exit', killOnExit)
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
      if (await answers(url, child)) return { url, dir, output: () => out, stop, env: await login(dir, url) }
      await stopProcess(child)
      process.off('exit', killOnExit)
      if (attempt >= 2) throw new Error(`verdaccio did not answer at ${url}:\n${out}`)
    }
  } catch (error) {
    await stop()
    throw error
  }
}

/** Polls /-/ping until it answers 200, the process exits, or 30 s pass. */
async function answers(url: string, child: ChildProcess): Promise<boolean> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline && child.exitCode === null) {
    try {
      const response = await fetch(`${url}-/ping`)
      if (response.ok) return true
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  return false
}

/** Adds a user (htpasswd) and writes a temp .npmrc with its token; returns the children's environment. */
async function login(dir: string, url: string): Promise<NodeJS.ProcessEnv> {
  const response = await fetch(`${url}-/user/org.couchdb.user:smap-test`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'smap-test', password: 'smap-test-password', email: 'test@example.invalid', type: 'user' }),
  })
  const body = (await response.json()) as { token?: string }
  if (!response.ok || !body.token) throw new Error(`verdaccio refused the test user (${response.status}): ${JSON.stringify(body)}`)
  const host = url.replace(/^http:/, '')
  const npmrc = join(dir, '.npmrc')
  await writeFile(npmrc, `registry=${url}\n${host}:_authToken=${body.token}\n`)
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.keys(process.env).filter((k) => !/^(npm_|pnpm_|VITEST)/i.test(k)).map((k) => [k, process.env[k]])),
    npm_config_userconfig: npmrc,
    npm_config_globalconfig: join(dir, 'npmrc-global'),
    npm_config_registry: url,
    npm_config_cache: join(dir, 'npm-cache'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_yes: 'true',
    NO_COLOR: '1',
  }
  return env
}
