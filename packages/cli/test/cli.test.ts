import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { parsePortArg, takeOpts } from '../src/commands.js'
import { cli } from './_cli.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

describe('runCli', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-cli-unit-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('lists its commands with --help and exits 1 without a command', async () => {
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    for (const name of ['run', 'run-driver', 'validate', 'load', 'uuid', 'sink', 'tree']) expect(help.stdout).toContain(name)
    expect((await cli([])).code).toBe(1)
  })

  it('names the commands when given an unknown one', async () => {
    expect(await cli(['serve'])).toEqual({ code: 1, stdout: '', stderr: 'smap: unknown command "serve"; commands: run, run-driver, dev, validate, load, uuid, sink, tree, actuate, drivers, describe, check-driver (see smap --help)\n' })
  })

  it('refuses a misspelt option instead of ignoring it', async () => {
    expect((await cli(['validate', 'conf.ini', '--prot', '80'])).stderr).toBe('smap validate: unknown option --prot\n')
    expect(await cli(['sink', '--prot', '80'])).toEqual({ code: 1, stdout: '', stderr: 'smap sink: unknown option --prot; options: --port, --host, --out, --mqtt, --group\n' })
  })

  it('prints a new uuid', async () => {
    const r = await cli(['uuid'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\n$/)
  })

  it('validates a config: ok, or every problem with its line', async () => {
    await writeFile(join(dir, 'good.ini'), `[/]\nuuid = ${ROOT}\n[/s]\nProperties/UnitofMeasure = V\n`)
    expect(await cli(['validate', join(dir, 'good.ini')])).toEqual({ code: 0, stdout: `${join(dir, 'good.ini')}: ok\n`, stderr: '' })
    await writeFile(join(dir, 'bad.ini'), `[/]\nuuid = ${ROOT}\n[/s]\nProperties/UnitofMeasure = V\nBufferSize = 0\n[server]\nPort = 99999\n`)
    const bad = await cli(['validate', join(dir, 'bad.ini')])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toBe(
      `smap validate: 2 problems:\n  ${join(dir, 'bad.ini')}:5 [/s] BufferSize: expected a whole number from 1 to 100000, got "0"\n  ${join(dir, 'bad.ini')}:7 [server] Port: expected a port number from 0 to 65535, got "99999"\n`,
    )
  })

  it('says which file it cannot read', async () => {
    const r = await cli(['validate', join(dir, 'missing.ini')])
    expect(r).toEqual({ code: 1, stdout: '', stderr: `smap validate: cannot read config file ${join(dir, 'missing.ini')}: no such file\n` })
  })
})

describe('arguments', () => {
  it('reads --port as a port or says what a port is', () => {
    expect(parsePortArg(undefined)).toBeUndefined()
    expect(parsePortArg('0')).toBe(0)
    expect(parsePortArg('8080')).toBe(8080)
    expect(() => parsePortArg('65536')).toThrow('--port: expected a port number from 0 to 65535, got "65536"')
    expect(() => parsePortArg('80x')).toThrow('--port: expected a port number from 0 to 65535, got "80x"')
  })

  it('collects repeated --opt Key=Value pairs and leaves the rest', () => {
    expect(takeOpts(['pkg', '--opt', 'Rate=5', '-o', 'Host=a=b', '--opt=X=', '--port', '1'])).toEqual({
      rest: ['pkg', '--port', '1'],
      opts: { Rate: '5', Host: 'a=b', X: '' },
    })
    expect(() => takeOpts(['--opt'])).toThrow('--opt needs a Key=Value after it, e.g. --opt Rate=5')
    expect(() => takeOpts(['--opt', 'Rate'])).toThrow('--opt expects Key=Value, e.g. --opt Rate=5, got "Rate"')
  })
})
