import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SMAP_BIN, start, type Running } from './_process.js'

const RELAY = fileURLToPath(new URL('./fixtures/isolation/relay.js', import.meta.url))
const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

async function smap(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | string; out: string }> {
  const r = start(SMAP_BIN, args, { env })
  const code = await r.exited
  return { code, out: r.output() }
}

describe('smap actuate and smap tree with actuators', () => {
  let dir: string
  let running: Running
  let url: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-actuate-cli-'))
    await cp(RELAY, join(dir, 'relay.js'))
    await writeFile(join(dir, 'package.json'), '{"type": "module"}')
    await writeFile(join(dir, 'conf.ini'), ['[/]', `uuid = ${ROOT}`, '', '[/site]', 'type = ./relay.js', 'MinWriteInterval = 0', ''].join('\n'))
    running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0'], { cwd: dir })
    url = ((await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/))[1]) as string
  })
  afterAll(async () => {
    running.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('writes a state and prints the state reached', async () => {
    expect(await smap(['actuate', url, '/site/relay', 'on'])).toEqual({ code: 0, out: '/site/relay is now 1 on/off\n' })
  })

  it('says what a point takes, and why a write was refused, with exit code 1', async () => {
    const bad = await smap(['actuate', url, 'site/dimmer', '150'])
    expect(bad).toEqual({ code: 1, out: 'smap actuate: /site/dimmer: 400 /site/dimmer cannot take the state "150": it takes a whole number from 0 to 100\n' })
    const notPoint = await smap(['actuate', url, '/site', '1'])
    expect(notPoint.code).toBe(1)
    expect(notPoint.out).toContain('405 /site is a collection')
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as AddressInfo
        s.close(() => resolve(port))
      })
    })
    const down = await smap(['actuate', `http://127.0.0.1:${free}`, '/site/relay', '1'])
    expect(down).toEqual({ code: 1, out: `smap actuate: cannot reach http://127.0.0.1:${free}: connection refused (is the source running?)\n` })
  })

  it('shows actuators in the tree with their state and model', async () => {
    await smap(['actuate', url, '/site/relay', 'on'])
    const { code, out } = await smap(['tree', url])
    expect(code).toBe(0)
    expect(out).toMatch(/\/site\/relay\s+1 \(on\) on\/off {2}\[writable: binary 0\/1\]/)
    expect(out).toMatch(/\/site\/dimmer\s+no readings {2}\[writable: continuousInteger 0\.\.100\]/)
  })
})
