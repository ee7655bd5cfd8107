import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SDK_VERSION } from '@smap/core'
import { listInstalledDrivers, renderFound, renderInstalled, searchRegistry } from '../src/drivers.js'
import { writeDriverPackage } from '../../core/test/_driver-package.js'

const DRIVER = (name: string, description: string) => `import { z } from 'zod'
const d = (n) => ({ name: n, description: ${JSON.stringify(description)}, options: z.object({}), setup() {} })
export default d(${JSON.stringify(name)})
export const Other = d(${JSON.stringify(`${name}-other`)})
export class NotADriver {}
`

describe('smap drivers', () => {
  let site: string
  beforeEach(async () => {
    site = await mkdtemp(join(tmpdir(), 'smap-drivers-'))
  })
  afterEach(async () => {
    await rm(site, { recursive: true, force: true })
  })

  it('lists the driver packages beside a config and the global ones, with their SDK ranges and drivers', async () => {
    const nm = join(site, 'node_modules')
    await writeDriverPackage(join(nm, 'smap-driver-meter'), { name: 'smap-driver-meter', version: '2.1.0', keywords: ['smap-driver'], peerDependencies: { '@smap/sdk': '>=0.1.0 <1.0.0' } }, { 'index.js': DRIVER('meter', 'A meter') })
    await writeDriverPackage(join(nm, '@acme', 'smap-driver-future'), { name: '@acme/smap-driver-future', peerDependencies: { '@smap/sdk': '^9.0.0' } }, { 'index.js': DRIVER('future', 'From the future') })
    await writeDriverPackage(join(nm, 'smap-driver-broken'), { name: 'smap-driver-broken', keywords: ['smap-driver'] }, { 'index.js': "throw new Error('boom')\n" })
    await writeDriverPackage(join(nm, 'left-pad'), { name: 'left-pad' }, { 'index.js': 'export default 1\n' }) // not a driver
    await writeDriverPackage(join(nm, '@smap', 'testing'), { name: '@smap/testing', peerDependencies: { '@smap/sdk': '*' } }) // uses the SDK, not a driver
    const global = join(site, 'prefix', 'lib', 'node_modules')
    await writeDriverPackage(join(global, 'smap-driver-global'), { name: 'smap-driver-global', keywords: ['smap-driver'], peerDependencies: { '@smap/sdk': '^0.0.1' } }, { 'index.js': DRIVER('global', 'Installed with -g') })
    // the same name globally is hidden by the local one, as Node resolves it
    await writeDriverPackage(join(global, 'smap-driver-meter'), { name: 'smap-driver-meter', version: '0.0.1', keywords: ['smap-driver'] }, { 'index.js': DRIVER('meter', 'old') })

    const list = await listInstalledDrivers(site, [global])
    expect(list.map((d) => `${d.name}@${d.version} ${d.global ? 'global' : 'local'} ${d.compatibility.kind}`).sort()).toEqual(
      ['@acme/smap-driver-future@1.0.0 local needs-newer', 'smap-driver-broken@1.0.0 local unchecked', 'smap-driver-global@1.0.0 global promised', 'smap-driver-meter@2.1.0 local in-range'].sort(),
    )
    const meter = list.find((d) => d.name === 'smap-driver-meter')
    expect(meter?.drivers).toEqual({ default: { name: 'meter', description: 'A meter' }, Other: { name: 'meter-other', description: 'A meter' } })
    expect(list.find((d) => d.name === 'smap-driver-broken')?.problem).toContain('boom')

    const text = renderInstalled(list, site)
    expect(text).toContain(`this smap runs @smap/sdk ${SDK_VERSION}`)
    expect(text).toContain('  smap-driver-meter 2.1.0  @smap/sdk >=0.1.0 <1.0.0  ok\n    node_modules/smap-driver-meter\n    type = smap-driver-meter  A meter\n    type = smap-driver-meter#Other  A meter\n')
    expect(text).toContain('@acme/smap-driver-future 1.0.0  @smap/sdk ^9.0.0  needs @smap/sdk >=9.0.0: update smap with `npm install @smap/cli@latest`')
    expect(text).toContain(`smap-driver-global 1.0.0  @smap/sdk ^0.0.1  ok (built for 0.0.1; covered by the compatibility promise)\n    global, ${join(global, 'smap-driver-global')}`)
    expect(text).toContain('    fails to load: driver "smap-driver-broken" failed to load: boom')
  })

  it('says how to add one when there are none', async () => {
    const text = renderInstalled(await listInstalledDrivers(site, []), site)
    expect(text).toContain('none installed: `npm install PACKAGE` adds one; `smap drivers --search WORDS` finds some')
  })
})

describe('smap drivers --search', () => {
  let server: Server
  let registry: string
  let asked: string[]
  let answer: { status: number; body: string }
  beforeEach(async () => {
    asked = []
    answer = { status: 200, body: readFileSync(new URL('./fixtures/npm-search.json', import.meta.url), 'utf8') }
    server = createServer((req, res) => {
      asked.push(req.url ?? '')
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body)
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  })
  afterEach(async () => {
    await new Promise((r) => server.close(r))
  })

  it('asks the registry for packages with the smap-driver keyword and lists them', async () => {
    const r = await searchRegistry('modbus power', registry)
    expect(asked).toEqual(['/-/v1/search?text=keywords%3Asmap-driver%20modbus%20power&size=100'])
    expect(r.found.map((p) => p.name)).toEqual(['@acme/smap-driver-powermeter', 'smap-driver-weatherlink'])
    const text = renderFound('modbus power', r)
    expect(text).toContain(`2 driver packages matching "modbus power" on ${registry}:`)
    expect(text).toContain('  @acme/smap-driver-powermeter 1.2.0  (2026-10-14)\n    sMAP driver for Acme PM-300 power meters over Modbus/TCP\n    https://github.com/acme/smap-driver-powermeter#readme\n')
    expect(text).toContain('  smap-driver-weatherlink 0.3.1  (2026-08-02)\n    https://www.npmjs.com/package/smap-driver-weatherlink\n')
  })

  it('says what went wrong with the registry', async () => {
    answer = { status: 503, body: 'down' }
    await expect(searchRegistry('x', registry)).rejects.toThrow(`the registry ${registry} answered 503`)
    answer = { status: 200, body: '<html>' }
    await expect(searchRegistry('x', registry)).rejects.toThrow('something that is not a search result')
    await new Promise((r) => server.close(r))
    server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    await expect(searchRegistry('x', 'http://127.0.0.1:1/')).rejects.toThrow('cannot reach the registry http://127.0.0.1:1/: ')
  })
})
