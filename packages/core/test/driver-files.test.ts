import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineDriver, z } from '@smap/sdk'
import { dumpText, loadText, SmapInstance, type ConfigError } from '@smap/core'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const ZOD_DIR = dirname(createRequire(import.meta.url).resolve('zod/package.json'))

// A driver whose Table option names a file; its schema reads the file while the options are parsed.
const TABLE_DRIVER = `import { readFileSync } from 'node:fs'
import { z } from 'zod'
export default {
  name: 'table',
  files: ['Table'],
  options: z.object({
    Table: z.string().transform((file, ctx) => {
      try { return { file, text: readFileSync(file, 'utf8').trim() } }
      catch (err) { ctx.addIssue({ code: 'custom', message: 'cannot read ' + file + ': ' + err.code }); return z.NEVER }
    }),
    Label: z.string().optional(),
  }),
  setup() {},
}
`

describe('driver options that name files', () => {
  let site: string

  beforeEach(async () => {
    site = await mkdtemp(join(tmpdir(), 'smap-files-'))
    await mkdir(join(site, 'node_modules'), { recursive: true })
    await symlink(ZOD_DIR, join(site, 'node_modules', 'zod'))
    await mkdir(join(site, 'conf', 'maps'), { recursive: true })
    await writeFile(join(site, 'conf', 'table-driver.js'), TABLE_DRIVER)
    await writeFile(join(site, 'conf', 'maps', 'a.txt'), 'the table beside the config\n')
  })
  afterEach(async () => {
    await rm(site, { recursive: true, force: true })
  })

  const section = (table: string): string => `[/]\nuuid = ${ROOT}\n\n[/t]\ntype = ./table-driver.js\nTable = ${table}\nLabel = maps/a.txt\n`

  it('resolves a relative path against the config file, not the working directory, and dump writes it as written', async () => {
    // the process runs elsewhere: only the config's folder makes maps/a.txt findable
    expect(process.cwd()).not.toBe(join(site, 'conf'))
    const text = section('maps/a.txt')
    const inst = await loadText(text, join(site, 'conf', 'conf.ini'))
    expect(inst.drivers.get('/t')?.options).toEqual({ Table: { file: join(site, 'conf', 'maps', 'a.txt'), text: 'the table beside the config' }, Label: 'maps/a.txt' })
    expect(inst.drivers.get('/t')?.source.rawOptions).toEqual({ Table: 'maps/a.txt', Label: 'maps/a.txt' })
    expect(dumpText(inst, site)).toBe(`[/]\ntype = Collection\nuuid = ${ROOT}\n\n[/t]\ntype = ./table-driver.js\nTable = maps/a.txt\nLabel = maps/a.txt\n`)
  })

  it('leaves an absolute path alone', async () => {
    const abs = join(site, 'conf', 'maps', 'a.txt')
    const inst = await loadText(section(abs).replace('./table-driver.js', join(site, 'conf', 'table-driver.js')), join(site, 'elsewhere', 'conf.ini'))
    expect(inst.drivers.get('/t')?.options).toMatchObject({ Table: { file: abs } })
  })

  it("reports the schema's verdict on the resolved file at the option's line, naming where it looked", async () => {
    const errors: ConfigError[] = []
    await loadText(section('maps/missing.txt'), join(site, 'conf', 'conf.ini'), { errors })
    expect(errors.map((e) => e.message)).toEqual([`${join(site, 'conf', 'conf.ini')}:6 [/t] Table: cannot read ${join(site, 'conf', 'maps', 'missing.txt')}: ENOENT`])
  })

  it('refuses a definition whose files names an option its schema lacks', () => {
    const bad = defineDriver({ name: 'bad', files: ['Tabel'], options: z.object({ Table: z.string() }), setup() {} })
    expect(() => new SmapInstance(ROOT).addDriver('/b', bad, { Table: 'x' })).toThrowErrorMatchingInlineSnapshot(
      `[SmapError: the driver for /b is not a valid driver definition: files names Tabel, which is not an option of its schema]`,
    )
  })
})
