import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { httpsRequest, makePki } from '../packages/core/test/_tls.js'
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

  it('keeps outboxes and subscriptions in --data-dir, also when the config has [report] sections', async () => {
    // the reporter used to be built while loading, before --data-dir was read, so it went to .smap beside the config
    await writeFile(join(dir, 'conf.ini'), `${CONF}\n[report 0]\nReportDeliveryLocation = http://127.0.0.1:9/add\nReportResource = /+\n`)
    running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0', '--data-dir', 'elsewhere'], { cwd: dir })
    const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
    await fetch(`${url}/reports`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ReportResource: '/+', ReportDeliveryLocation: 'http://127.0.0.1:9/add' }) })
    running.child.kill('SIGTERM')
    expect(await running.exited).toBe(0)
    expect((await readdir(join(dir, 'elsewhere'))).sort()).toEqual(['reports', 'subscriptions.db'])
    expect((await readdir(join(dir, 'elsewhere', 'reports'))).length).toBe(2)
    expect(existsSync(join(dir, '.smap'))).toBe(false)
  })

  it('exits at once on a second signal while a driver takes its time to stop', async () => {
    await writeFile(join(dir, 'slow-stop.js'), "export default { name: 'slow-stop', setup() {}, stop: () => new Promise(() => {}) }\n")
    running = start(SMAP_BIN, ['run-driver', './slow-stop.js', '--port', '0'], { cwd: dir })
    await running.waitFor(/at http:\/\/127\.0\.0\.1:\d+\/data/)
    const began = Date.now()
    running.child.kill('SIGTERM')
    await running.waitFor(/a second Ctrl-C or SIGTERM exits at once/)
    running.child.kill('SIGTERM')
    expect(await running.exited).toBe(1)
    expect(Date.now() - began).toBeLessThan(4000) // the driver's own deadline is 5 s
    expect(running.output()).toContain('a second signal while stopping: exiting now; readings not yet written to an outbox are lost')
  })

  it('takes the port from [server] Port', async () => {
    await writeFile(join(dir, 'conf.ini'), `[server]\nPort = 0\n\n${CONF}`)
    running = start(SMAP_BIN, ['run', 'conf.ini'], { cwd: dir })
    const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
    expect((await fetch(`${url}/data`)).status).toBe(200)
  })

  it('prints the https URL beside the http one when [server] TlsPort is set', async () => {
    const pki = makePki(dir)
    await writeFile(join(dir, 'conf.ini'), `[server]\nPort = 0\nTlsPort = 0\nTlsKey = server.key\nTlsCert = server.pem\n\n${CONF}`)
    running = start(SMAP_BIN, ['run', 'conf.ini'], { cwd: dir })
    const [, url, tlsUrl] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data and (https:\/\/127\.0\.0\.1:\d+)\/data \(root/)
    expect((await fetch(`${url}/data`)).status).toBe(200)
    expect(await httpsRequest(`${tlsUrl}/data/instrument0/sensor0`, { ca: pki.caCert })).toMatchObject({ status: 200 })
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
    expect(await runSmap(['frobnicate'])).toEqual({ code: 1, output: 'smap: unknown command "frobnicate"; commands: run, run-driver, dev, validate, load, uuid, sink, tree, actuate, drivers, describe, check-driver (see smap --help)\n' })
    const missing = await runSmap(['run'])
    expect(missing.code).toBe(1)
    expect(missing.output).toBe('smap run: Missing required positional argument: CONF (see smap run --help)\n')
  })

  it('runs one driver at the root with smap run-driver and --opt', async () => {
    const uuids: string[] = []
    for (let i = 0; i < 2; i++) {
      running = start(SMAP_BIN, ['run-driver', 'smap.driver.BaseDriver', '--port', '0', '--opt', 'StartVal=10', '--opt=Rate=0.2'], { cwd: dir })
      const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
      const body = (await (await fetch(`${url}/data/sensor0`)).json()) as { uuid: string; Readings: Array<[number, number]> }
      expect(body.Readings[0]?.[1]).toBeGreaterThanOrEqual(10)
      uuids.push(body.uuid)
      running.child.kill('SIGINT')
      expect(await running.exited).toBe(0)
    }
    // the same uuids every run, so trying a driver twice does not make new streams
    expect(uuids[0]).toBe(uuids[1])
  })

  it('explains a bad driver option or a missing driver in run-driver', async () => {
    expect(await runSmap(['run-driver', 'smap.driver.BaseDriver', '--opt', 'Rate=fast'], { cwd: dir })).toEqual({
      code: 1,
      output: 'smap run-driver: invalid options for driver BaseDriver at /: Rate: Invalid input: expected number, received NaN, got "fast"\n',
    })
    expect(await runSmap(['run-driver', 'smap-driver-nope'], { cwd: dir })).toEqual({
      code: 1,
      output: `smap run-driver: driver package "smap-driver-nope" is not installed: run \`npm install smap-driver-nope\` in ${dir}\n`,
    })
    expect((await runSmap(['run-driver', 'x', '--opt', 'Rate'])).output).toBe('smap run-driver: --opt expects Key=Value, e.g. --opt Rate=5, got "Rate"\n')
    // a driver's TypeScript source: what to run instead
    await writeFile(join(dir, 'index.ts'), "export default { name: 'x', setup() {} }\n")
    const ts = await runSmap(['run-driver', './index.ts'], { cwd: dir })
    expect(ts.code).toBe(1)
    expect(ts.output).toContain('Unknown file extension ".ts"')
    expect(ts.output).toContain('build the driver first (npm run build) and name its dist/index.js, or run smap through a TypeScript loader')
  })

  it('validates a config, printing every problem at once', async () => {
    await writeFile(
      join(dir, 'bad.ini'),
      `[/]\nuuid = ${ROOT}\n[/a]\ntype = smap.driver.BaseDriver\nRate = fast\nRat = 1\n[/b]\ntype = smap-driver-nope\n[/c]\nProperties/ReadingType = int\n`,
    )
    expect(await runSmap(['validate', 'bad.ini'], { cwd: dir })).toEqual({
      code: 1,
      output: [
        'smap validate: 4 problems:',
        '  bad.ini:5 [/a] Rate: Invalid input: expected number, received NaN, got "fast"',
        '  bad.ini:6 [/a] Rat: unknown option for driver BaseDriver; it accepts Rate, StartVal',
        `  bad.ini:8 [/b] type: driver package "smap-driver-nope" is not installed: run \`npm install smap-driver-nope\` in ${dir}`,
        '  bad.ini:10 [/c] Properties/ReadingType: expected long, double or string, got "int"',
        '',
      ].join('\n'),
    })
    // a broken [server], a repeated section and key do not hide the problems after them
    await writeFile(join(dir, 'worse.ini'), `[server]\nPort = abc\n[/]\nuuid = ${ROOT}\n[/t]\ntype = Timeseries\n[/t]\nk = 1\n[/u]\nkey = u\nkey = v\n`)
    expect(await runSmap(['validate', 'worse.ini'], { cwd: dir })).toEqual({
      code: 1,
      output: [
        'smap validate: 5 problems:',
        '  worse.ini:2 [server] Port: expected a port number from 0 to 65535, got "abc"',
        '  worse.ini:5 [/t] Properties/UnitofMeasure: missing: a Timeseries needs its unit, e.g. "Properties/UnitofMeasure = V"',
        '  worse.ini:7 [/t]: section [/t] appears twice (first on line 5); merge them into one',
        '  worse.ini:9 [/u] Properties/UnitofMeasure: missing: a Timeseries needs its unit, e.g. "Properties/UnitofMeasure = V"',
        '  worse.ini:11 [/u] key: set twice in this section (first on line 10); keep one',
        '',
      ].join('\n'),
    })
    await writeFile(join(dir, 'good.ini'), CONF)
    expect(await runSmap(['validate', 'good.ini'], { cwd: dir })).toEqual({ code: 0, output: 'good.ini: ok\n' })
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
    expect(top.output).toContain('USAGE smap run|run-driver|dev|validate|load|uuid|sink|tree')
    const run = await runSmap(['run', '--help'])
    expect(run.code).toBe(0)
    expect(run.output).toContain('USAGE smap run [OPTIONS] <CONF>')
    expect(run.output).toContain('--data-dir')
    expect((await runSmap(['uuid', '--help'])).output).toContain('USAGE smap uuid')
    expect((await runSmap(['run-driver', '--help'])).output).toContain('USAGE smap run-driver [OPTIONS] <DRIVER>')
    expect((await runSmap(['validate', '--help'])).output).toContain('USAGE smap validate [OPTIONS] <CONF>')
  })
})
