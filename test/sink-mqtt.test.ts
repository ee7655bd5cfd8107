// smap sink --mqtt against a real Mosquitto: one sink gets everything a source publishes; two sinks
// of a group share the stream, each taking a part, together every reading once.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SmapInstance } from '@smap/core'
import { findMosquitto, startBroker, type Broker } from '../packages/core/test/_mosquitto.js'
import { SMAP_BIN, start, type Running } from './_process.js'

const found = findMosquitto()
const MOSQUITTO = 'path' in found ? found.path : undefined
if (MOSQUITTO === undefined) console.warn(`the MQTT sink tests are skipped: ${'missing' in found ? found.missing : ''}`)
const quiet = { info() {}, warn() {}, error() {} }

const lines = async (file: string): Promise<Array<{ path: string; readings: Array<[number, number]>; unit?: string }>> =>
  (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l))

describe.skipIf(MOSQUITTO === undefined)('smap sink --mqtt', () => {
  let dir: string
  let broker: Broker
  let inst: SmapInstance | undefined
  const sinks: Running[] = []
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-sink-mqtt-'))
    broker = await startBroker(MOSQUITTO as string, dir)
  })
  afterEach(async () => {
    await inst?.stop()
    inst = undefined
    for (const s of sinks.splice(0)) s.child.kill('SIGKILL')
    await broker.stop()
    await rm(dir, { recursive: true, force: true })
  })

  /** A source with 10 streams publishing `n` readings each to the broker under smap/. */
  const publish = async (n: number): Promise<void> => {
    inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92', { logger: quiet, server: { dataDir: join(dir, 'data'), flushInterval: 10, retryBackoff: 20, maxRetryBackoff: 200 } })
    for (let s = 0; s < 10; s++) inst.addTimeseries(`/m/s${s}`, `s${s}`, 'W')
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: `${broker.url}/smap` })
    await inst.start()
    for (let k = 0; k < n; k++) {
      for (let s = 0; s < 10; s++) inst.add(`/m/s${s}`, 1000 + k, k)
      await inst.flush()
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  const stopAll = async (): Promise<void> => {
    for (const s of sinks) s.child.kill('SIGINT')
    for (const s of sinks) expect(await s.exited).toBe(0)
  }

  it('writes what a source publishes as the HTTP sink does, with units from the full objects', async () => {
    const sink = start(SMAP_BIN, ['sink', '--mqtt', `${broker.url}/smap/#`, '--out', join(dir, 'got.jsonl')], { cwd: dir })
    sinks.push(sink)
    await sink.waitFor(/sink subscribed to mqtt:\/\/127\.0\.0\.1:\d+ smap\/# \(appending to/)
    await publish(20)
    const end = Date.now() + 10_000
    let got: Awaited<ReturnType<typeof lines>> = []
    while (Date.now() < end && got.flatMap((l) => l.readings).length < 200) {
      got = await lines(join(dir, 'got.jsonl'))
      await new Promise((r) => setTimeout(r, 50))
    }
    await stopAll()
    got = await lines(join(dir, 'got.jsonl'))
    expect(got.filter((l) => l.path === '/m/s3').flatMap((l) => l.readings.map(([, v]) => v))).toEqual(Array.from({ length: 20 }, (_, k) => k))
    expect(got.filter((l) => l.readings.length > 0).every((l) => l.unit === 'W')).toBe(true)
  })

  it('shares the stream between the sinks of a group: disjoint parts that together hold every reading', async () => {
    for (const name of ['a', 'b']) {
      const sink = start(SMAP_BIN, ['sink', '--mqtt', `${broker.url}/smap/#`, '--group', 'archivers', '--out', join(dir, `${name}.jsonl`)], { cwd: dir })
      sinks.push(sink)
      await sink.waitFor(/\(group archivers: sharing with the group's other sinks\)/)
    }
    await publish(30)
    const key = (l: { path: string }, r: [number, number]): string => `${l.path}@${r[0]}`
    const all = async (): Promise<string[][]> => Promise.all(['a', 'b'].map(async (n) => (await lines(join(dir, `${n}.jsonl`))).flatMap((l) => l.readings.map((r) => key(l, r)))))
    const end = Date.now() + 10_000
    while (Date.now() < end && (await all()).flat().length < 300) await new Promise((r) => setTimeout(r, 50))
    await stopAll()
    const [a = [], b = []] = await all()
    expect(a.length).toBeGreaterThan(0)
    expect(b.length).toBeGreaterThan(0)
    expect(a.filter((k) => b.includes(k))).toEqual([])
    expect(new Set([...a, ...b]).size).toBe(300)
  })

  it('refuses a URL with a password in it, or a group without --mqtt, in one line', async () => {
    const withPassword = start(SMAP_BIN, ['sink', '--mqtt', 'mqtt://me:secret@127.0.0.1:1/x/#'], { cwd: dir })
    expect(await withPassword.exited).toBe(1)
    expect(withPassword.output()).toMatch(/--mqtt: a user or password in the URL would show in the process list/)
    expect(withPassword.output()).not.toContain('secret@')
    const group = start(SMAP_BIN, ['sink', '--group', 'g'], { cwd: dir })
    expect(await group.exited).toBe(1)
    expect(group.output()).toContain('--group shares an MQTT subscription: give it with --mqtt URL')
  })
})
