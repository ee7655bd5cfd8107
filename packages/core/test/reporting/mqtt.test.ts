// Reports delivered to a real Mosquitto: topics, payloads, retained metadata, and a broker that
// is down or killed mid-stream.
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { dump, loadText, SmapInstance } from '@smap/core'
import { findMosquitto, startBroker, type Broker } from '../_mosquitto.js'
import { makePki } from '../_tls.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet = { info() {}, warn() {}, error() {} }
const found = findMosquitto()
const MOSQUITTO = 'path' in found ? found.path : undefined
if (MOSQUITTO === undefined) console.warn(`the MQTT delivery tests are skipped: ${'missing' in found ? found.missing : ''}`)

interface Got {
  topic: string
  body: Record<string, { uuid?: string; Readings?: Array<[number, number]>; Properties?: unknown; Contents?: string[] }>
  retain: boolean
  batch: string | undefined
}

/** A consumer subscribed to `filter`: every message it got, in order. */
async function consume(url: string, filter: string, o: { clientId?: string; clean?: boolean; tls?: { ca: Buffer; cert: Buffer; key: Buffer } } = {}): Promise<{ client: MqttClient; got: Got[] }> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, ...(o.tls ?? {}), clean: o.clean ?? true, reconnectPeriod: 100, ...(o.clientId ? { clientId: o.clientId, properties: { sessionExpiryInterval: 3600 } } : {}) })
  const got: Got[] = []
  client.on('message', (topic, payload, packet) => {
    const batch = packet.properties?.userProperties?.['smap-batch']
    got.push({ topic, body: JSON.parse(payload.toString()), retain: packet.retain, batch: Array.isArray(batch) ? batch[0] : batch })
  })
  await client.subscribeAsync(filter, { qos: 1 })
  return { client, got }
}

const until = async (what: string, ok: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const values = (got: Got[], path: string): number[] => got.filter((g) => !g.topic.includes('/meta/')).flatMap((g) => g.body[path]?.Readings?.map(([, v]) => v) ?? [])

describe.skipIf(MOSQUITTO === undefined)('delivery to an MQTT broker', () => {
  let dir: string
  let broker: Broker | undefined
  let inst: SmapInstance | undefined
  const clients: MqttClient[] = []
  const make = (): SmapInstance => new SmapInstance(ROOT, { logger: quiet, server: { dataDir: join(dir, 'data'), flushInterval: 10, retryBackoff: 20, maxRetryBackoff: 200, reportTimeout: 2000 } })
  const channel = async (i: SmapInstance): Promise<{ state: string; lastError: { message: string } | null; delivered: number; added: number; backlogReadings: number }> => {
    const reports = (await i.status()).reports as unknown as Record<string, { channels: Array<{ state: string; lastError: { message: string } | null; delivered: number; added: number; backlogReadings: number }> }>
    return Object.values(reports)[0]?.channels[0] as Awaited<ReturnType<typeof channel>>
  }
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-mqtt-'))
  })
  afterEach(async () => {
    await inst?.stop()
    inst = undefined
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
    await broker?.stop()
    broker = undefined
    await rm(dir, { recursive: true, force: true })
  })

  it('publishes each stream on PREFIX/ROOT/PATH, full object first, and every object retained on PREFIX/meta/ROOT/PATH', async () => {
    broker = await startBroker(MOSQUITTO as string, dir)
    const live = await consume(broker.url, 'site/#')
    clients.push(live.client)
    inst = make()
    inst.addTimeseries('/meter/power', 'power', 'kW', { readingType: 'double' })
    inst.addTimeseries('/meter/energy', 'energy', 'kWh', { readingType: 'double' })
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: `${broker.url}/site` })
    await inst.start()
    for (let k = 0; k < 5; k++) {
      inst.add('/meter/power', 1000 + k, k)
      inst.add('/meter/energy', 1000 + k, 10 * k)
      await inst.flush()
      await new Promise((r) => setTimeout(r, 30))
    }
    await until('every reading', () => values(live.got, '/meter/power').length === 5 && values(live.got, '/meter/energy').length === 5)
    expect(values(live.got, '/meter/power')).toEqual([0, 1, 2, 3, 4]) // in order per stream
    const power = live.got.filter((g) => g.topic === `site/${ROOT}/meter/power`)
    expect(power[0]?.body['/meter/power']).toMatchObject({ uuid: inst.getTimeseries('/meter/power')?.uuid, Properties: { UnitofMeasure: 'kW' }, Readings: [] })
    expect(Object.keys(power.at(-1)?.body['/meter/power'] ?? {}).sort()).toEqual(['Readings', 'uuid'])
    expect(power.every((g) => g.batch !== undefined)).toBe(true)

    // a consumer that joins late learns every stream and collection from the retained objects
    const late = await consume(broker.url, `site/meta/${ROOT}/#`)
    clients.push(late.client)
    await until('the retained objects', () => late.got.length >= 4)
    await new Promise((r) => setTimeout(r, 200))
    expect(late.got.every((g) => g.retain)).toBe(true)
    expect(late.got.map((g) => g.topic).sort()).toEqual([`site/meta/${ROOT}`, `site/meta/${ROOT}/meter`, `site/meta/${ROOT}/meter/energy`, `site/meta/${ROOT}/meter/power`])
    expect(late.got.find((g) => g.topic.endsWith('/power'))?.body['/meter/power']).toMatchObject({ Properties: { UnitofMeasure: 'kW' }, Readings: [] })
    const c = await channel(inst)
    expect(c).toMatchObject({ state: 'idle', backlogReadings: 0, delivered: 10, added: 10 })
  })

  it('keeps readings while the broker is down, says why in /status, and delivers them once it is up', async () => {
    broker = await startBroker(MOSQUITTO as string, dir, [], { persist: true })
    // subscribed before the broker goes down, in a session that outlives it: a consumer that
    // subscribed only after the restart could miss what the source sends as soon as it connects
    const live = await consume(broker.url, 'site/#', { clientId: 'archiver-0', clean: false })
    clients.push(live.client)
    // mosquitto saves its sessions once changes exceed autosave_interval (1): two more subscriptions, then the file
    await live.client.subscribeAsync(['other/1', 'other/2'], { qos: 1 })
    await until('the broker to save its sessions', () => existsSync(join(dir, 'mosquitto.db')), 5000)
    await broker.kill()
    inst = make()
    inst.addTimeseries('/power', 'power', 'kW')
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: `${broker.url}/site` })
    await inst.start()
    for (let k = 0; k < 20; k++) inst.add('/power', 1000 + k, k)
    await inst.flush()
    await new Promise((r) => setTimeout(r, 300))
    const down = await channel(inst)
    expect(down.state).toBe('retrying')
    expect(down.lastError?.message).toBe(`mqtt://127.0.0.1:${broker.port}: connection refused (is the broker running?)`)
    expect(down.backlogReadings).toBe(20)
    await broker.start()
    await until('the backlog', () => values(live.got, '/power').length >= 20)
    expect(values(live.got, '/power')).toEqual(Array.from({ length: 20 }, (_, k) => k))
    expect(await channel(inst)).toMatchObject({ backlogReadings: 0, delivered: 20 })
  })

  it('loses nothing when the broker is killed mid-stream and comes back', async () => {
    broker = await startBroker(MOSQUITTO as string, dir, [], { persist: true })
    // a consumer with a persistent session, as an archiver would have
    const live = await consume(broker.url, 'site/#', { clientId: 'archiver-1', clean: false })
    clients.push(live.client)
    inst = make()
    inst.addTimeseries('/power', 'power', 'kW')
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: `${broker.url}/site` })
    await inst.start()
    let n = 0
    const timer = setInterval(() => inst?.add('/power', 1000 + n, n++), 10)
    try {
      await until('some readings', () => values(live.got, '/power').length > 30)
      await broker.kill()
      await new Promise((r) => setTimeout(r, 500))
      await broker.start()
      await new Promise((r) => setTimeout(r, 500))
    } finally {
      clearInterval(timer)
    }
    const total = n
    await until(`all ${total} readings`, () => new Set(values(live.got, '/power')).size === total, 15_000).catch(async (err: Error) => {
      const have = new Set(values(live.got, '/power'))
      const missing = Array.from({ length: total }, (_, k) => k).filter((k) => !have.has(k))
      throw new Error(`${err.message}: missing ${missing.length} (${missing.slice(0, 10).join(', ')}...), the channel ${JSON.stringify(await channel(inst as SmapInstance))}, consumer connected ${live.client.connected}`)
    })
    const got = values(live.got, '/power')
    expect([...new Set(got)].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, k) => k))
    // repeats only from what was in flight at the kill: one batch
    expect(got.length - total).toBeLessThan(200)
    expect(await channel(inst)).toMatchObject({ backlogReadings: 0, delivered: total })
  })

  it('logs in with a [broker] section\'s user and password; a wrong one is retried and named in /status, and dump keeps only its reference', async () => {
    execFileSync('mosquitto_passwd', ['-b', '-c', join(dir, 'passwd'), 'gateway', 'right-password-1234'])
    broker = await startBroker(MOSQUITTO as string, dir, [`password_file ${join(dir, 'passwd')}`])
    const live = await consume(broker.url.replace('mqtt://', 'mqtt://gateway:right-password-1234@'), 'site/#')
    clients.push(live.client)
    const conf = (password: string): Promise<SmapInstance> => {
      process.env.SMAP_TEST_BROKER_PASSWORD = password
      const text = ['[server]', `DataDir = ${join(dir, 'data')}`, 'FlushInterval = 10', 'RetryBackoff = 20', 'MaxRetryBackoff = 200', '', '[broker site]', `Url = ${broker?.url}`, 'Username = gateway', 'Password = env:SMAP_TEST_BROKER_PASSWORD', '', '[/]', `uuid = ${ROOT}`, ''].join('\n')
      return loadText(text, join(dir, 'conf.ini'), { logger: quiet })
    }
    inst = await conf('wrong-password-1234')
    inst.addTimeseries('/power', 'power', 'kW')
    // saved with the source (as one made over HTTP is), so the next start has it and its outbox
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: `${broker.url}/site` }, { origin: 'http' })
    await inst.start()
    inst.add('/power', 1000, 1)
    await until('a refused login', () => false, 400).catch(() => undefined)
    const refused = await channel(inst)
    expect(refused.state).toBe('retrying')
    expect(refused.lastError?.message).toBe(`mqtt://127.0.0.1:${broker.port}: the broker refused the login: not authorized (a wrong user name or password, or the broker's access list; the login is Username and Password in the [broker] section)`)
    expect(JSON.stringify(await inst.status())).not.toContain('wrong-password-1234')
    await inst.stop()

    inst = await conf('right-password-1234')
    inst.addTimeseries('/power', 'power', 'kW')
    await inst.start()
    await until('the reading kept while the login was refused', () => values(live.got, '/power').includes(1))
    await dump(inst, join(dir, 'dumped.ini'))
    const dumped = await readFile(join(dir, 'dumped.ini'), 'utf8')
    expect(dumped).toContain('[broker site]')
    expect(dumped).toContain('Password = env:SMAP_TEST_BROKER_PASSWORD')
    expect(dumped).not.toContain('right-password-1234')
    delete process.env.SMAP_TEST_BROKER_PASSWORD
  })

  it('delivers over mqtts with the [broker] section\'s CA and client certificate; without the certificate the broker refuses it', async () => {
    const pki = makePki(dir, ['127.0.0.1'])
    broker = await startBroker(MOSQUITTO as string, dir, [`cafile ${pki.caCert}`, `certfile ${pki.serverCert}`, `keyfile ${pki.serverKey}`, 'require_certificate true'])
    const tls = broker.url.replace('mqtt://', 'mqtts://')
    const live = await consume(tls, 'site/#', { tls: { ca: await readFile(pki.caCert), cert: await readFile(pki.clientCert), key: await readFile(pki.clientKey) } })
    clients.push(live.client)
    const conf = (cert: boolean): Promise<SmapInstance> => {
      const login = ['[broker site]', `Url = ${tls}`, `CA = ${pki.caCert}`, ...(cert ? [`Cert = ${pki.clientCert}`, `Key = ${pki.clientKey}`] : [])]
      const text = ['[server]', `DataDir = ${join(dir, 'data')}`, 'FlushInterval = 10', 'RetryBackoff = 20', 'MaxRetryBackoff = 200', '', ...login, '', '[/]', `uuid = ${ROOT}`, ''].join('\n')
      return loadText(text, join(dir, 'conf.ini'), { logger: quiet })
    }
    inst = await conf(false)
    inst.addTimeseries('/power', 'power', 'kW')
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: `${tls}/site` }, { origin: 'http' })
    await inst.start()
    inst.add('/power', 1000, 7)
    await new Promise((r) => setTimeout(r, 400))
    const refused = await channel(inst)
    expect(refused.state).toBe('retrying')
    expect(refused.lastError?.message).toMatch(/^mqtts:\/\/127\.0\.0\.1:\d+: the broker refused this source's TLS client certificate \(.*\): set Cert and Key in the \[broker\] section/)
    await inst.stop()
    inst = await conf(true)
    inst.addTimeseries('/power', 'power', 'kW')
    await inst.start()
    await until('the reading over TLS', () => values(live.got, '/power').includes(7))
  })
})
