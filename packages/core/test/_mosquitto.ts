import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { createConnection, createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'

// A real Mosquitto on a loopback port, with a config the test writes: Debian's
// mosquitto (which .ci/run installs when missing), or the one SMAP_MOSQUITTO names.

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']

/** Where mosquitto is, or why there is none. Under CI a missing broker is an error, not a skip. */
export function findMosquitto(): { path: string } | { missing: string } {
  const named = process.env.SMAP_MOSQUITTO
  if (named) return existsSync(named) ? { path: named } : { missing: `SMAP_MOSQUITTO=${named} does not exist` }
  const path = CANDIDATES.find((p) => existsSync(p))
  if (path) return { path }
  const missing = `no mosquitto on this machine (looked for ${CANDIDATES.join(', ')}): install Debian's mosquitto (apt-get install mosquitto) or set SMAP_MOSQUITTO`
  if (process.env.CI) throw new Error(`${missing}; .ci/run installs it`)
  return { missing }
}

export interface Broker {
  port: number
  url: string
  /** Ends it with SIGKILL (nothing it held in memory survives) and waits until it is gone. */
  kill(): Promise<void>
  /** Starts it again on the same port. */
  start(): Promise<void>
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1')
  await new Promise((r) => probe.once('listening', r))
  const port = (probe.address() as AddressInfo).port
  await new Promise((r) => probe.close(r))
  return port
}

const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' })
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
  })

/** Writes a config in `dir` and starts mosquitto on a free loopback port; `extra` lines go into the config (e.g. a password file). */
export async function startBroker(path: string, dir: string, extra: string[] = [], o: { persist?: boolean } = {}): Promise<Broker> {
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  const anonymous = !extra.some((l) => l.startsWith('password_file'))
  await writeFile(conf, [`listener ${port} 127.0.0.1`, `allow_anonymous ${anonymous}`, // as root, mosquitto drops to its own user, which may not write the test's folder
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    ...(o.persist ? ['persistence true', `persistence_location ${dir}/`, 'autosave_on_changes true', 'autosave_interval 1'] : ['persistence false']), 'log_dest stderr', 'log_type error', ...extra, ''].join('\n'))
  let child: ChildProcess | undefined
  let output = ''
  const start = async (): Promise<void> => {
    output = ''
    const c = spawn(path, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
    c.stderr?.on('data', (d: Buffer) => (output += d.toString()))
    child = c
    const end = Date.now() + 10_000
    while (!(await accepts(port))) {
      if (c.exitCode !== null) throw new Error(`mosquitto exited (${c.exitCode}): ${output}`)
      if (Date.now() > end) throw new Error(`mosquitto did not listen on ${port} within 10 s: ${output}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  const kill = async (): Promise<void> => {
    const c = child
    child = undefined
    if (!c || c.exitCode !== null) return
    const gone = new Promise((r) => c.once('exit', r))
    c.kill('SIGKILL')
    await gone
  }
  await start()
  return { port, url: `mqtt://127.0.0.1:${port}`, kill, start, stop: kill }
}
