import { existsSync } from 'node:fs'
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { defineDriver, z } from '@smap/sdk'
import { SmapInstance, type Logger } from '../src/index.js'
import { uuid5 } from '../src/tree/identity.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const FULL = pathToFileURL(join(import.meta.dirname, '../../../test/fixtures/isolation/full.js')).href
// the same definition the module exports, as the config loader would have found it: its options are checked here
const definition = defineDriver({ name: 'full', options: z.object({ Scale: z.coerce.number() }), setup() {} })

describe('a driver in a worker thread', () => {
  let dir: string
  let inst: SmapInstance
  const lines: string[] = []
  const logger: Logger = { info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m, e) => void lines.push(`${m}${e instanceof Error ? `: ${e.message}` : ''}`) }
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-isolate-'))
    lines.length = 0
    inst = new SmapInstance(ROOT, { logger, server: { dataDir: dir } })
  })
  afterEach(async () => {
    await inst.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('builds its part of the tree, adds readings, logs, keeps state and reports health through the main thread', { timeout: 30_000 }, async () => {
    const driver = inst.addDriver('/site', definition, { Scale: '2' }, { ref: './full.js', isolation: { module: { url: FULL, exportName: 'default' } } })
    await inst.start()
    const end = Date.now() + 15_000
    while (Date.now() < end && driver.restarts === 0) await new Promise((r) => setTimeout(r, 20))
    expect(inst.getCollection('/site/meter')?.toJSON()).toMatchObject({ Description: 'a meter', Metadata: { Instrument: { Model: 'M1' } } })
    const ts = inst.getTimeseries('/site/meter/power')
    expect(ts?.uuid).toBe(uuid5(driver.namespace, 'power'))
    expect(ts?.toJSON().Properties).toMatchObject({ UnitofMeasure: 'W', ReadingType: 'double' })
    // BufferSize 1: the last reading, n * Scale at time 1000 + n
    const [time, value] = ts?.readings.at(-1) ?? []
    expect(value).toBe(((time as number) - 1000) * 2)
    expect(lines).toContain(`driver /site (./full.js): set up with Scale 2, /site/meter/power is ${ts?.uuid}`)
    expect(driver.stateSnapshot()).toMatchObject({ setups: 1 })
    // a reading the tree refuses fails the poll it was added in, as it would in the main thread
    expect(driver.lastError).toMatchObject({ phase: 'poll' })
    expect(driver.lastError?.message).toBe('cannot add the string "not a number" to /site/meter/power: its ReadingType is double (a finite number)')
    expect(driver.status().health).toMatchObject({ healthy: true })
  })

  it('writes to an actuator point whose functions run in the worker, and cancels a write there at its deadline', { timeout: 30_000 }, async () => {
    const fixtures = join(import.meta.dirname, '../../../test/fixtures/isolation')
    await cp(join(fixtures, 'relay.js'), join(dir, 'relay.js'))
    await writeFile(join(dir, 'package.json'), '{"type": "module"}')
    const url = pathToFileURL(join(dir, 'relay.js')).href
    inst.addDriver('/site', defineDriver({ name: 'relay', setup() {} }), {}, { ref: './relay.js', isolation: { module: { url, exportName: 'default' } } })
    await inst.start()
    expect(inst.getTimeseries('/site/relay')?.toJSON().Actuator).toEqual({ Model: 'binary', States: [['0', 'off'], ['1', 'on']] })
    const done = await inst.actuate('/site/relay', 'on', { via: 'token', name: 'ops' })
    expect(done.state).toBe(1)
    expect(JSON.parse(await readFile(join(dir, 'relay-state'), 'utf8'))).toEqual({ value: 1, by: 'token:ops' })
    await expect(inst.actuate('/site/dimmer', 50)).rejects.toMatchObject({ code: 'SMAP_ACTUATE_TIMEOUT' })
    const end = Date.now() + 5000
    while (Date.now() < end && !existsSync(join(dir, 'dimmer-aborted'))) await new Promise((r) => setTimeout(r, 20))
    expect(await readFile(join(dir, 'dimmer-aborted'), 'utf8')).toContain('cancelled')
    await expect(inst.actuate('/site/dimmer', 101)).rejects.toMatchObject({ code: 'SMAP_STATE_INVALID' })
  })
})
