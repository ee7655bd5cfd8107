import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { cli } from './_cli.js'

const workspace = (path: string): string => fileURLToPath(new URL(`../../../${path}`, import.meta.url))

describe('smap describe', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-describe-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('prints an INI section to paste for a package, by name where it is installed or by its folder', async () => {
    const byName = await cli(['describe', '@smap/driver-caiso'], workspace('packages/driver-caiso'))
    expect(byName.stderr).toBe('')
    expect(byName.code).toBe(0)
    expect(byName.stdout).toContain('\n[/caiso]\ntype = @smap/driver-caiso\n\n; Today\'s Outlook files to poll; empty for none.\n; comma-separated, any of: demand, netdemand, fuelsource\nFiles = demand, netdemand, fuelsource\n')
    const byFolder = await cli(['describe', workspace('packages/driver-caiso'), '--path', '/grid/caiso'])
    expect(byFolder.stdout).toBe(byName.stdout.replace('[/caiso]', '[/grid/caiso]'))
    const dent = await cli(['describe', `${workspace('packages/driver-dent')}#PowerScout3`])
    expect(dent.stdout).toContain('\ntype = @smap/driver-dent#PowerScout3\n')
    expect(dent.stdout).toContain('\n; required\n; Address =\n')
  })

  it('takes the classic names of the original library', async () => {
    const r = await cli(['describe', 'smap.drivers.caiso.CaIsoDriver'], workspace('packages/driver-caiso'))
    expect(r.code).toBe(0)
    expect(r.stdout).toContain('\n[/caiso]\ntype = smap.drivers.caiso.CaIsoDriver\n')
    const base = await cli(['describe', 'smap.driver.BaseDriver'])
    expect(base.stdout).toContain('\n; Seconds between readings.\n; a number > 0\nRate = 1\n')
  })

  it('prints the JSON Schema with --json, values as the strings a config gives', async () => {
    const r = await cli(['describe', workspace('packages/driver-modbus'), '--json'])
    expect(r.code).toBe(0)
    const schema = JSON.parse(r.stdout) as { properties: Record<string, Record<string, unknown>>; required: string[] }
    expect(schema.required).toEqual(['Address', 'RegisterMap'])
    expect(schema.properties.MaxGap).toMatchObject({ type: 'string', default: '8', 'x-smap-value': { type: 'integer', minimum: 0, maximum: 125 } })
    for (const [key, prop] of Object.entries(schema.properties)) expect(prop.type, key).toBe('string')
  })

  it('says when a driver takes no options', async () => {
    const file = join(dir, 'plain.mjs')
    await writeFile(file, "export default { name: 'plain', setup() {} }\n")
    expect(await cli(['describe', file])).toEqual({ code: 0, stdout: `[/plain]\ntype = ${file}\n; driver plain takes no options\n`, stderr: '' })
  })

  it('says in one line what is wrong with the reference or the path', async () => {
    expect(await cli(['describe', 'smap-driver-nope'], dir)).toEqual({ code: 1, stdout: '', stderr: `smap describe: driver package "smap-driver-nope" is not installed: run \`npm install smap-driver-nope\` in ${dir}\n` })
    expect((await cli(['describe', workspace('packages/driver-caiso'), '--path', 'caiso'])).stderr).toBe('smap describe: --path: expected a path in the tree such as /meter, got "caiso"\n')
    expect((await cli(['describe', dir])).stderr).toBe(`smap describe: ${dir} is a folder without package.json: name a driver package's folder, its built module (./dist/index.js) or an installed package\n`)
  })
})
