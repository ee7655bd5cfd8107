// kill -9 of a source delivering to a real Mosquitto, four times, then a restart that drains
// the outbox: every reading added long enough before a kill to have reached the outbox is
// delivered, none is invented, and repeats come only from batches in flight at a kill.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { findMosquitto, startBroker, type Broker } from '../packages/core/test/_mosquitto.js'
import { SMAP_BIN, start, type Running } from './_process.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const COUNTER = fileURLToPath(new URL('./fixtures/crash/counter.js', import.meta.url))
const FLUSH_MS = 20
/** A reading added this long before a kill has reached the outbox (a flush, and a write on a busy machine). */
const LOSS_WINDOW_MS = FLUSH_MS + 480
/** ... and this many ticks of 5 ms before it, for a process starved of CPU. */
const LOSS_TICKS = 60
const SERVING = /at (http:\/\/127\.0\.0\.1:\d+)\/data/
const found = findMosquitto()
const MOSQUITTO = 'path' in found ? found.path : undefined
if (MOSQUITTO === undefined) console.warn(`the MQTT crash test is skipped: ${'missing' in found ? found.missing : ''}`)

/** The counter's journal: per tick its time, first value and count. */
async function journal(file: string): Promise<Array<{ t: number; first: number; n: number }>> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => {
    const [t, first, n] = l.split(' ').map(Number) as [number, number, number]
    return { t, first, n }
  })
}

describe.skipIf(MOSQUITTO === undefined)('a source killed with kill -9 while it publishes to a broker', () => {
  let dir: string
  let broker: Broker | undefined
  let running: Running | undefined
  let consumer: MqttClient | undefined
  afterEach(async () => {
    running?.child.kill('SIGKILL')
    await consumer?.endAsync(true)
    await broker?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('delivers everything that reached the outbox, across four kills', { timeout: 60_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-mqtt-crash-'))
    broker = await startBroker(MOSQUITTO as string, dir, [], { persist: true })
    const got: number[] = []
    consumer = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clean: false, clientId: 'archiver', properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 100 })
    consumer.on('message', (topic, payload) => {
      if (!topic.startsWith(`smap/${ROOT}/`)) return
      for (const entry of Object.values(JSON.parse(payload.toString()) as Record<string, { Readings?: Array<[number, number]> }>)) for (const [, v] of entry.Readings ?? []) got.push(v)
    })
    await consumer.subscribeAsync('smap/#', { qos: 1 })
    const log = join(dir, 'journal.log')
    await copyFile(COUNTER, join(dir, 'counter.js'))
    await writeFile(join(dir, 'conf.ini'), `[server]\nDataDir = ./data\nFlushInterval = ${FLUSH_MS}\nRetryBackoff = 20\nMaxRetryBackoff = 200\n\n[/]\nuuid = ${ROOT}\n\n[/counter]\ntype = ./counter.js\n\n[report 0]\nReportResource = /+\nReportDeliveryLocation = ${broker.url}/smap\n`)

    const kills: number[] = []
    const starts: number[] = []
    for (let k = 0; k < 4; k++) {
      const ticks = await journal(log)
      const last = ticks.at(-1)
      starts.push(last ? last.first + last.n : 0)
      running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0'], { cwd: dir, env: { COUNTER_START: String(starts[k]), COUNTER_JOURNAL: log } })
      await running.waitFor(SERVING)
      await sleep(700 + 200 * k)
      running.child.kill('SIGKILL')
      kills.push(Date.now())
      expect(await running.exited).toBe('SIGKILL')
    }
    // the last run adds nothing and drains the outbox
    running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0'], { cwd: dir, env: { COUNTER_OFF: '1', COUNTER_JOURNAL: log } })
    const [, url] = await running.waitFor(SERVING)
    const end = Date.now() + 20_000
    for (;;) {
      const ch = ((await (await fetch(`${url}/status`)).json()) as { reports: Record<string, { channels: Array<{ backlogReadings: number; pending: number; state: string }> }> }).reports
      const c = Object.values(ch)[0]?.channels[0]
      if (c && c.backlogReadings === 0 && c.pending === 0 && c.state === 'idle') break
      if (Date.now() > end) throw new Error(`the outbox did not drain: ${JSON.stringify(c)}`)
      await sleep(100)
    }
    await sleep(300)

    const ticks = await journal(log)
    const produced = new Set(ticks.flatMap((t) => Array.from({ length: t.n }, (_, j) => t.first + j)))
    const have = new Set(got)
    // a tick is owed when it was journaled long enough before the kill that ended its run, by the
    // clock and by the run's own progress (a starved process stamps ticks ahead of the clock)
    const owed = starts.flatMap((first, k) => {
      const run = ticks.filter((t) => t.first >= first && (k + 1 === starts.length || t.first < (starts[k + 1] as number)))
      return run.slice(0, -LOSS_TICKS).filter((t) => t.t < (kills[k] as number) - LOSS_WINDOW_MS)
    }).flatMap((t) => Array.from({ length: t.n }, (_, j) => t.first + j))
    expect(owed.length).toBeGreaterThan(50)
    expect(owed.filter((v) => !have.has(v))).toEqual([])
    expect([...have].filter((v) => !produced.has(v))).toEqual([])
    // each of the three streams carries every value: repeats beyond that come from batches in flight
    const repeats = got.length - 3 * have.size
    expect(repeats).toBeLessThan(3 * 2000)
  })
})
