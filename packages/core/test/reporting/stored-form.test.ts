import { appendFile, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SmapInstance, type Logger } from '../../src/index.js'
import { Outbox, type OutboxEntry } from '../../src/reporting/outbox.js'
import { PayloadBuilder } from '../../src/reporting/payload.js'
import { Tree } from '../../src/tree/tree.js'

// Chunks are stored in the form a report carries them, so that a POST of whole chunks sends the
// stored text instead of serializing every reading again; and a reading is written and delivered
// when it arrives, not at the next tick.

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} }
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** A receiver that keeps each POST's body as it came. */
async function rawSink(): Promise<{ url: string; bodies: string[]; server: Server }> {
  const bodies: string[] = []
  const server = createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (b: Buffer) => parts.push(b))
    req.on('end', () => {
      bodies.push(Buffer.concat(parts).toString('utf8'))
      res.writeHead(200, { 'Content-Length': '0' }).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/add`, bodies, server }
}

/** The `w` texts of the chunk documents in an outbox folder's segment files. */
async function storedTexts(outboxDir: string): Promise<string[]> {
  const out: string[] = []
  for (const f of await readdir(outboxDir)) {
    if (!f.endsWith('.db')) continue
    for (const line of (await readFile(join(outboxDir, f), 'utf8')).split('\n')) {
      if (line === '') continue
      const doc = JSON.parse(line) as { w?: unknown }
      if (typeof doc.w === 'string') out.push(doc.w)
    }
  }
  return out
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !ok(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

describe('delivery from the stored form', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-stored-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('writes a reading that finds its outbox idle at once, even with a long FlushInterval, and POSTs the stored text as it is', async () => {
    const sink = await rawSink()
    const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir, flushInterval: 60_000 } })
    try {
      for (let s = 0; s < 3; s++) inst.addTimeseries(`/m/s${s}`, `s${s}`, 'W')
      const report = await inst.addReport({ uuid: '4b1b7a56-1f5e-4c3a-9d43-6d1a4a3c2b10', ReportResource: '/+', ReportDeliveryLocation: sink.url })
      await inst.start()
      await until('the full objects', () => sink.bodies.length === 1)
      const t0 = 1_700_000_000_000
      for (let s = 0; s < 3; s++) inst.add(`/m/s${s}`, t0, s)
      // before, it waited for the next flush, FlushInterval later
      await until('the first readings', () => sink.bodies.length === 2, 3000)
      const outboxDir = join(dir, 'reports', report.uuid, '0', 'outbox')
      const body = sink.bodies[1] as string
      expect(JSON.parse(body)).toEqual({
        '/m/s0': { uuid: inst.getTimeseries('/m/s0')?.uuid, Readings: [[t0, 0]] },
        '/m/s1': { uuid: inst.getTimeseries('/m/s1')?.uuid, Readings: [[t0, 1]] },
        '/m/s2': { uuid: inst.getTimeseries('/m/s2')?.uuid, Readings: [[t0, 2]] },
      })
      // the POST is the very text the outbox wrote (the chunk document is deleted once delivered, its line stays until the file goes)
      expect(await storedTexts(outboxDir)).toContain(body)

      // a reading within FlushInterval of that write waits for the next one; a flush writes it now
      inst.add('/m/s0', t0 + 1000, 10)
      await sleep(300)
      expect(sink.bodies).toHaveLength(2)
      await inst.flush()
      await until('the flushed reading', () => sink.bodies.length === 3)
      expect(JSON.parse(sink.bodies[2] as string)).toEqual({ '/m/s0': { uuid: inst.getTimeseries('/m/s0')?.uuid, Readings: [[t0 + 1000, 10]] } })
    } finally {
      await inst.stop()
      sink.server.close()
    }
  })
})

describe('the stored form of a chunk', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-stored-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })
  const values = (e: OutboxEntry[]): Array<[string, number[]]> => e.map((x) => [x.p, x.r.map(([, v]) => v as number)])

  it('keeps a chunk that holds one stream twice as a list, and loads files written before the report form', async () => {
    const box = await Outbox.open(dir, { logger: quiet })
    // one stream twice in one write: it cannot be keyed by path
    await box.append([
      { p: '/a', u: 'ua', r: [[1, 1]] },
      { p: '/b', u: 'ub', r: [[1, 2]] },
      { p: '/a', u: 'ua2', r: [[2, 3]] },
    ])
    const [seg] = (await readdir(dir)).filter((f) => f.endsWith('.db'))
    // a segment line as an earlier version wrote it: entries as a JSON list (`j`)
    const legacy = JSON.stringify([{ p: '/c', u: 'uc', r: [[5, 4], [6, 5]] }])
    await appendFile(join(dir, seg as string), `${JSON.stringify({ _id: `c1`, s: 1, t: 1, j: legacy })}\n`)
    const lines = (await readFile(join(dir, seg as string), 'utf8')).split('\n').filter((l) => l !== '')
    expect(lines.map((l) => Object.keys(JSON.parse(l) as object).sort())).toEqual([['_id', 'j', 's', 't'], ['_id', 'j', 's', 't']])

    const again = await Outbox.open(dir, { logger: quiet })
    const lease = await again.take(100, 'r')
    expect(values(lease.entries())).toEqual([
      ['/c', [4, 5]],
      ['/a', [1]],
      ['/b', [2]],
      ['/a', [3]],
    ])
    expect(lease.wholeChunks()?.map((c) => c.wire)).toEqual([undefined, undefined])
  })

  it('sends whole chunks of different streams as their joined texts, and builds the body when chunks share a stream or one is new', async () => {
    const tree = new Tree(ROOT)
    for (const p of ['/a', '/b', '/c']) tree.addTimeseries(p, { unit: 'W' })
    const u = (p: string): string => tree.getTimeseries(p)?.uuid as string
    const payloads = new PayloadBuilder(tree)
    payloads.acknowledged(payloads.build(undefined, '/+', true)) // every stream described
    const box = await Outbox.open(join(dir, 'one'), { logger: quiet })
    await box.append([{ p: '/a', u: u('/a'), r: [[1, 1]] }])
    await box.append([{ p: '/b', u: u('/b'), r: [[1, 2]] }, { p: '/c', u: u('/c'), r: [[1, 3]] }])
    const disjoint = await box.take(100, 'r')
    const joined = payloads.build(disjoint, '/+', false)
    const texts = disjoint.wholeChunks()?.map((c) => c.wire as string) ?? []
    expect(texts).toHaveLength(2)
    expect(joined.json).toBe(`{${texts.map((t) => t.slice(1, -1)).join(',')}}`)
    expect(JSON.parse(joined.json)).toEqual({ '/a': { uuid: u('/a'), Readings: [[1, 1]] }, '/b': { uuid: u('/b'), Readings: [[1, 2]] }, '/c': { uuid: u('/c'), Readings: [[1, 3]] } })
    disjoint.ack()
    disjoint.release()

    // /a in both chunks: one key, its readings in order
    await box.append([{ p: '/a', u: u('/a'), r: [[2, 4]] }])
    await box.append([{ p: '/a', u: u('/a'), r: [[3, 5]] }, { p: '/b', u: u('/b'), r: [[3, 6]] }])
    const shared = await box.take(100, 'r')
    expect(JSON.parse(payloads.build(shared, '/+', false).json)).toEqual({ '/a': { uuid: u('/a'), Readings: [[2, 4], [3, 5]] }, '/b': { uuid: u('/b'), Readings: [[3, 6]] } })
    shared.release()

    // a stream whose metadata changed goes in full, not from the stored text
    tree.setMetadata('/b', { Location: { Building: 'Soda' } })
    const described = payloads.build(await box.take(100, 'r'), '/+', false)
    expect(JSON.parse(described.json)['/b']).toMatchObject({ uuid: u('/b'), Metadata: { Location: { Building: 'Soda' } }, Readings: [[3, 6]] })
    expect(described.described.map(([r]) => r.path)).toContain('/b')
  })

  it('keeps a batch to whole chunks, so that a backlog still goes as stored', async () => {
    const box = await Outbox.open(dir, { logger: quiet })
    const write = (from: number, n: number): Promise<void> => box.append(Array.from({ length: n }, (_, k) => ({ p: `/s${from + k}`, u: `u${from + k}`, r: [[1, from + k]] })))
    await write(0, 6000)
    await write(6000, 6000)
    const first = await box.take(10_000, 'r')
    expect(first.count).toBe(6000)
    expect(first.wholeChunks()).toHaveLength(1)
    first.ack()
    first.release()
    const second = await box.take(10_000, 'r')
    expect(second.count).toBe(6000)
    expect(second.wholeChunks()).toHaveLength(1)
  })

  it('joins no text for a take of part of a chunk', async () => {
    await mkdir(dir, { recursive: true })
    const box = await Outbox.open(dir, { logger: quiet })
    await box.append([{ p: '/a', u: 'ua', r: [[1, 1], [2, 2], [3, 3]] }])
    const part = await box.take(2, 'r')
    expect(part.wholeChunks()).toBeUndefined()
    part.ack()
    part.release()
    const rest = await box.take(2, 'r')
    expect(rest.wholeChunks()).toBeUndefined() // the chunk's first readings are gone: its text holds them still
    expect(rest.entries()).toEqual([{ p: '/a', u: 'ua', r: [[3, 3]] }])
  })
})
