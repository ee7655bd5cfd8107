import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runSmap, SMAP_BIN, start, type Running } from './_process.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const CONF = `[/]
type = Collection
uuid = ${ROOT}

[/instrument0]
type = Collection
Metadata/Instrument/Manufacturer = sMAP Implementer Forum

[/instrument0/sensor0]
type = Timeseries
key = sensor0
Properties/UnitofMeasure = V
`

describe('the smap command', () => {
  let dir: string
  let running: Running | undefined

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-cli-'))
  })
  afterEach(async () => {
    running?.child.kill('SIGKILL')
    running = undefined
    await rm(dir, { recursive: true, force: true })
  })

  it('serves a config with smap run and stops cleanly on SIGTERM and SIGINT', async () => {
    await writeFile(join(dir, 'conf.ini'), CONF)
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0'], { cwd: dir })
      const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
      const res = await fetch(`${url}/data/instrument0/sensor0`)
      expect(await res.json()).toEqual({
        uuid: 'b37e5c5f-e9b0-59a6-8275-08729beeff46',
        Properties: { UnitofMeasure: 'V', ReadingType: 'long', Timezone: 'America/Los_Angeles' },
        Readings: [],
      })
      running.child.kill(signal)
      expect(await running.exited).toBe(0)
      expect(running.output()).toContain('stopping')
    }
  })

  it('takes the port from [server] Port', async () => {
    await writeFile(join(dir, 'conf.ini'), `[server]\nPort = 0\n\n${CONF}`)
    running = start(SMAP_BIN, ['run', 'conf.ini'], { cwd: dir })
    const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
    expect((await fetch(`${url}/data`)).status).toBe(200)
  })

  it('prints a config error as one line with its location and exits 1, no stack', async () => {
    await writeFile(join(dir, 'conf.ini'), '[/]\nuuid = nope\n')
    const { code, output } = await runSmap(['run', 'conf.ini', '--port', '0'], { cwd: dir })
    expect(code).toBe(1)
    expect(output).toBe(
      'smap run: conf.ini:2 [/] uuid: expected a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got "nope" (run `smap uuid` for a new one)\n',
    )
  })

  it('rejects bad arguments with a clear message', async () => {
    expect(await runSmap(['run', 'conf.ini', '--port', 'eighty'])).toEqual({ code: 1, output: 'smap run: --port: expected a port number from 0 to 65535, got "eighty"\n' })
    expect(await runSmap(['run', 'conf.ini', '--prot', '1'])).toEqual({ code: 1, output: 'smap run: unknown option --prot; options: --port, --host, --data-dir\n' })
    expect(await runSmap(['frobnicate'])).toEqual({ code: 1, output: 'smap: unknown command "frobnicate"; commands: run, uuid (see smap --help)\n' })
    const missing = await runSmap(['run'])
    expect(missing.code).toBe(1)
    expect(missing.output).toBe('smap run: Missing required positional argument: CONF (see smap run --help)\n')
  })

  it('prints a new uuid with smap uuid', async () => {
    const a = await runSmap(['uuid'])
    const b = await runSmap(['uuid'])
    expect(a.code).toBe(0)
    expect(a.output).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$/)
    expect(a.output).not.toBe(b.output)
  })

  it('has --help on every command', async () => {
    const top = await runSmap(['--help'])
    expect(top.code).toBe(0)
    expect(top.output).toContain('USAGE smap run|uuid')
    const run = await runSmap(['run', '--help'])
    expect(run.code).toBe(0)
    expect(run.output).toContain('USAGE smap run [OPTIONS] <CONF>')
    expect(run.output).toContain('--data-dir')
    expect((await runSmap(['uuid', '--help'])).output).toContain('USAGE smap uuid')
  })
})
