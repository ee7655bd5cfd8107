import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadText, serve, SmapInstance, type SmapServer } from '@smap/core'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'

// What a site moving from the original Python sMAP sends us and expects back.
const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet = { info() {}, warn() {}, error() {} }

describe('what the original sMAP sends and expects', () => {
  let dir: string
  let server: SmapServer | undefined
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-original-'))
  })
  afterEach(async () => {
    await server?.close()
    server = undefined
    await rm(dir, { recursive: true, force: true })
  })

  it('takes ExpireTime in Unix seconds, as an original client posts it, and keeps the subscription', async () => {
    const inst = new SmapInstance(ROOT, { server: { dataDir: dir }, logger: quiet })
    inst.addTimeseries('/s', 's', 'V')
    server = await serve(inst, { port: 0 })
    const seconds = Math.floor(Date.now() / 1000) + 3600
    const res = await fetch(`${server.url}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ReportResource: '/+', ReportDeliveryLocation: 'http://127.0.0.1:9/add', ExpireTime: seconds }) })
    expect(res.status).toBe(201)
    const made = (await res.json()) as { uuid: string; ExpireTime: number }
    expect(made.ExpireTime).toBe(seconds * 1000)
    await new Promise((r) => setTimeout(r, 2500))
    expect(inst.subscriptions.has(made.uuid)).toBe(true)
    // the original archiver's unsubscribe counts 200, 201 and 404 as done
    const gone = await fetch(`${server.url}/reports/${made.uuid}`, { method: 'DELETE' })
    expect(gone.status).toBe(200)
    expect(await gone.json()).toEqual({ removed: made.uuid })
    expect((await fetch(`${server.url}/reports/${made.uuid}`, { method: 'DELETE' })).status).toBe(404)
  })

  it('reads ExpireTime in seconds from a config too, and a [report] without ReportResource reports everything', async () => {
    const later = Math.floor(Date.now() / 1000) + 3600
    const inst = await loadText(`[/]\nuuid = ${ROOT}\n\n[report 0]\nReportDeliveryLocation = http://127.0.0.1:9/add\nExpireTime = ${later}\n`, join(dir, 'conf.ini'), { logger: quiet })
    const [sub] = [...inst.subscriptions.values()]
    expect(sub?.config).toMatchObject({ ReportResource: '/+', ExpireTime: later * 1000 })
  })

  it('refuses what the API must refuse with its own errors, and unwraps a Metadata group as the original does', () => {
    const inst = new SmapInstance(ROOT)
    expect(() => inst.addTimeseries('/a', { unit: 'V', uuid: null as unknown as string })).toThrow(expect.objectContaining({ code: 'SMAP_UUID_INVALID', message: 'the uuid of /a must be a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got null (leave it out to derive the uuid from the key)' }))
    const ts = inst.addTimeseries('/b', { unit: 'V' })
    expect(() => {
      ;(ts as { description: unknown }).description = 10
    }).toThrow(expect.objectContaining({ code: 'SMAP_METADATA_INVALID', message: '/b: a Description must be a string, got the number 10' }))
    expect(ts.toJSON().Description).toBeUndefined()
    expect(() => inst.addCollection('/c', { description: {} as string })).toThrow('/c: a Description must be a string, got an object')
    inst.setMetadata('/b', { Metadata: { Location: { Building: 'Soda Hall' } } })
    inst.setMetadata('/b', { 'Metadata/Instrument/Model': 'PS18' })
    expect(ts.metadata).toEqual({ Location: { Building: 'Soda Hall' }, Instrument: { Model: 'PS18' } })
  })

  it('a changed Description is sent again to subscribers (the full object)', () => {
    const inst = new SmapInstance(ROOT)
    const ts = inst.addTimeseries('/b', { unit: 'V' })
    const before = ts._metaVersion
    ts.description = 'supply voltage'
    expect(ts._metaVersion).toBeGreaterThan(before)
  })

  it("loads a config written for the original: its keys we do not implement are one warning each, a typo of ours stays an error, and the uuid wins over a key", async () => {
    const warned: string[] = []
    const logger = { info() {}, warn: (m: string) => void warned.push(m), error() {} }
    const text = [
      '[server]',
      'Port = 8080',
      'docroot = /var/www',
      'MaxAge = 3600',
      '',
      '[logging]',
      'level = debug',
      '',
      '[/]',
      `uuid = ${ROOT}`,
      '',
      '[/sensor0]',
      'uuid = 5a0e4e34-2b5e-11e1-a6bb-0026bb56ec92',
      'key = sensor0',
      'Properties/UnitofMeasure = V',
      '',
      '[report 0]',
      'ReportDeliveryLocation = http://127.0.0.1:9/add',
      '',
    ].join('\n')
    const inst = await loadText(text, join(dir, 'conf.ini'), { logger })
    const at = join(dir, 'conf.ini')
    expect(warned).toEqual([
      `${at}:3 [server] docroot: the original sMAP's docroot is not implemented here; this line is ignored`,
      `${at}:4 [server] MaxAge: the original sMAP's MaxAge is not implemented here; this line is ignored`,
      `${at}:6 [logging]: the original sMAP's [logging] section is not implemented here (smap logs to stderr); it is ignored`,
      `${at}:12 [/sensor0]: both uuid and key are given; the uuid is used and the key ignored, as the original sMAP did (remove one to quiet this)`,
    ])
    expect(inst.getTimeseries('/sensor0')?.uuid).toBe('5a0e4e34-2b5e-11e1-a6bb-0026bb56ec92')
    expect([...inst.subscriptions.values()][0]?.config.ReportResource).toBe('/+')
    const typo = await loadText(text.replace('Port = 8080', 'Prot = 8080'), at, { logger }).catch((e: unknown) => e as Error)
    expect((typo as Error).message).toMatch(/^.*conf\.ini:2 \[server\] Prot: unknown key in \[server\]; did you mean Port\?: expected one of Port, Host/)
    const reportTypo = await loadText(text.replace('[report 0]', '[report 0]\nMinPeriode = 5'), at, { logger }).catch((e: unknown) => e as Error)
    expect((reportTypo as Error).message).toContain('[report 0] MinPeriode: unknown key in a report section; did you mean MinPeriod?')
  })
})
