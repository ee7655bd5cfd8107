import { appendFile, copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { uuid5 } from '@smap/sdk'
import { SMAP_BIN, start, type Running } from './_process.js'

// DESIGN.md §8: after kill -9 at any moment and a restart, every reading that
// reached the outbox is delivered at least once; duplicates come only from the
// batch in flight at the crash; order per stream holds; a torn last write does
// not stop the restart.
//
// The source is test/fixtures/crash/counter.js: consecutive integers on three
// streams, journaled before they are added, so the test knows what was
// produced and when. After each kill the test reads the outbox files the
// restart will load (NeDB: one JSON document a line, the last one for an _id
// wins) to know exactly what had reached the outbox. Checked at the end:
// - everything in the outbox at a kill is delivered, and the restart reports
//   loading exactly that much (`restored` in /status), torn line or not;
// - what never arrived is a tail of a killed run (not yet flushed: it never
//   reached the outbox), added at most LOSS_WINDOW_MS before its kill or, on a
//   machine so busy that the process crawled, within its last LOSS_TICKS ticks;
// - a reading arrives twice only if the first time was the last batch
//   acknowledged before a kill, and the second a batch overlapping it;
// - per stream, readings arrive in order within a POST and first arrive in order;
// - a batch id (X-Smap-Batch-Id) never names other readings, across restarts too.
// SMAP_CRASH_SEED=n replays a run's random schedule; SMAP_CRASH_REPORT=1
// prints its figures; SMAP_CRASH_KEEP=1 keeps its directory.

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const COUNTER = fileURLToPath(new URL('./fixtures/crash/counter.js', import.meta.url))
const STREAMS = ['/counter/s0', '/counter/s1', '/counter/s2']
const FLUSH_MS = 20
// a flush interval plus what an outbox write may take on a busy machine; and
// the same in the source's own progress (ticks of 5 ms), for a process starved
// of CPU (seen: readings 1.7 s old but 21 ticks from the kill, at load 8 on 2 CPUs)
const LOSS_WINDOW_MS = FLUSH_MS + 480
const LOSS_TICKS = 60
const CYCLES = 12
const MAX_PER_POST = 10_000
const SERVING = /at (http:\/\/127\.0\.0\.1:\d+)\/data/
// what kill -9 in the middle of NeDB's append leaves: a line without its end
const TORN_LINE = '{"_id":"c99999","s":99999,"t":1,"e":[{"p":"/counter/s0","u":"x","r":[[1,'

type SinkMode = 'up' | '503' | 'down'

interface Post {
  /** the `smap run` started last when the POST arrived */
  run: number
  status: number
  id: string
  body: Record<string, { Readings?: Array<[number, number]> }>
}

/** A report receiver on a fixed port: answers 200 when up, 503 when failing, refuses connections when down. */
class Sink {
  readonly posts: Post[] = []
  run = -1
  port = 0
  #mode: SinkMode = 'down'
  #server: Server | undefined

  async set(mode: SinkMode): Promise<void> {
    this.#mode = mode
    if (mode === 'down') await this.#close()
    else if (!this.#server) await this.#listen()
  }

  async #listen(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const server = createServer((req, res) => this.#handle(req, res))
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(this.port, '127.0.0.1', () => resolve())
        })
        this.port = (server.address() as AddressInfo).port
        this.#server = server
        return
      } catch (err) {
        // the port may linger a moment after a close
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt === 40) throw err
        await sleep(50)
      }
    }
  }

  async #close(): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('error', () => {}) // a killed sender
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const status = this.#mode === 'up' ? 200 : 503
      const id = req.headers['x-smap-batch-id']
      this.posts.push({ run: this.run, status, id: typeof id === 'string' ? id : '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Post['body'] })
      res.writeHead(status).end()
    })
  }
}

interface Run {
  /** first value it produced */
  first: number
  killAt: number
  /** readings the outbox reported loading at start */
  restored: number
  /** `stream value` of every reading in the outbox files after the kill */
  atKill: Set<string>
}

interface Produced {
  t: number
  run: number
  /** its journal line: one per tick of the source */
  tick: number
}

describe('smap run under kill -9', () => {
  let dir: string | undefined
  let running: Running | undefined
  let sink: Sink | undefined

  afterEach(async () => {
    running?.child.kill('SIGKILL')
    if (running) await running.exited
    running = undefined
    await sink?.set('down')
    sink = undefined
    if (dir && !process.env.SMAP_CRASH_KEEP) await rm(dir, { recursive: true, force: true })
    dir = undefined
  })

  it('delivers every reading that reached the outbox across kill -9 and restart, in order, duplicating only the batch in flight', async () => {
    const began = Date.now()
    const seed = Number(process.env.SMAP_CRASH_SEED ?? began % 2 ** 31)
    const random = mulberry32(seed)
    const why = `seed ${seed} (rerun with SMAP_CRASH_SEED=${seed})`

    dir = await mkdtemp(join(tmpdir(), 'smap-crash-'))
    const journal = join(dir, 'journal.log')
    sink = new Sink()
    await sink.set('up')
    await copyFile(COUNTER, join(dir, 'counter.js'))
    await writeFile(
      join(dir, 'conf.ini'),
      `[server]\nDataDir = ./data\nFlushInterval = ${FLUSH_MS}\n\n[/]\nuuid = ${ROOT}\n\n[/counter]\ntype = ./counter.js\n\n` +
        `[report 0]\nReportResource = /+\nReportDeliveryLocation = http://127.0.0.1:${sink.port}/add\n`,
    )

    // the sink's state per cycle, shuffled; the torn write goes before a run that must load a backlog
    const plan = shuffle<SinkMode>(['up', 'up', 'up', 'up', 'up', 'up', 'down', 'down', 'down', 'down', '503', '503'], random)
    const torn = plan.findIndex((m, k) => m === 'down' && k < CYCLES - 1) + 1
    const runs: Run[] = []
    const outbox = join(dir, 'data', 'reports', uuid5(ROOT, 'report 0'), '0', 'outbox')

    for (let k = 0; k < CYCLES; k++) {
      await sink.set(plan[k] as SinkMode)
      if (k === torn) await appendFile(await newestSegment(outbox), TORN_LINE)
      const first = (await readJournal(journal)).next
      sink.run = k
      running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0'], { cwd: dir, env: { COUNTER_START: String(first), COUNTER_JOURNAL: journal } })
      const [, url] = await running.waitFor(SERVING)
      const { restored } = await channelStatus(url as string)
      await sleep(100 + Math.floor(random() * 700))
      running.child.kill('SIGKILL')
      const killAt = Date.now()
      expect(await running.exited, why).toBe('SIGKILL')
      running = undefined
      runs.push({ first, killAt, restored, atKill: await readOutbox(outbox) })
    }

    // last run: nothing new, the sink up, until the outbox is empty
    await sink.set('up')
    sink.run = CYCLES
    running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0'], { cwd: dir, env: { COUNTER_OFF: '1', COUNTER_JOURNAL: journal } })
    const [, url] = await running.waitFor(SERVING)
    const restoredLast = (await channelStatus(url as string)).restored
    const drained = await waitUntil(async () => {
      const ch = await channelStatus(url as string)
      return ch.backlogReadings === 0 && ch.pending === 0 && ch.state === 'idle' ? ch : undefined
    }, 30_000)
    expect({ dropped: drained.dropped.total, deadLettered: drained.deadLettered, writeError: drained.writeError }, why).toEqual({ dropped: 0, deadLettered: 0, writeError: null })
    running.child.kill('SIGTERM')
    expect(await running.exited, why).toBe(0)
    running = undefined

    const produced = (await readJournal(journal)).values
    const result = check(sink.posts, runs, produced)
    if (process.env.SMAP_CRASH_REPORT) {
      console.log(JSON.stringify({ seed, cycles: CYCLES, plan: plan.join(','), torn, durationMs: Date.now() - began, ...result.figures }))
    }
    // each restart loaded exactly what the kill left in the outbox; the torn line cost nothing
    expect([...runs.slice(1).map((r) => r.restored), restoredLast], why).toEqual(runs.map((r) => r.atKill.size))
    // the sink was down in some cycles, so restarts had a backlog to load
    expect(result.figures.inOutboxAtKills, why).toBeGreaterThan(0)
    expect(result.figures.deliveredUnique, why).toBeGreaterThan(result.figures.produced / 2)
    expect(result.problems.slice(0, 20), why).toEqual([])
    // X-Smap-Batch-Id lets a receiver drop a batch it already has, so an id must never name other readings
    expect(result.idProblems.slice(0, 5), `${why}: a batch id named other readings after a restart`).toEqual([])
  }, 90_000)
})

/** Checks the sink's record against what was produced; returns every problem found and the figures. */
function check(posts: Post[], runs: Run[], produced: Map<number, Produced>) {
  const problems: string[] = []
  const idProblems: string[] = []
  const runOf = (v: number): number => {
    let k = 0
    while (k + 1 < runs.length && (runs[k + 1] as Run).first <= v) k++
    return k
  }
  for (const [v, p] of produced) p.run = runOf(v)

  // per stream and value, the posts that delivered it
  const deliveries = new Map<string, Map<number, number[]>>(STREAMS.map((s) => [s, new Map()]))
  const firstMax = new Map<string, number>()
  const lastAck = new Map<number, number>()
  const contentById = new Map<string, string>()
  const readingAtStart = new Map<string, string>()
  let deliveredTotal = 0
  let maxPerPost = 0
  posts.forEach((post, i) => {
    if (post.status !== 200) return
    let n = 0
    for (const [path, obj] of Object.entries(post.body)) {
      const readings = obj.Readings ?? []
      if (readings.length === 0) continue
      const seen = deliveries.get(path)
      if (!seen) {
        problems.push(`post ${i} carries readings for ${path}, which the source does not have`)
        continue
      }
      let prev: [number, number] | undefined
      for (const [t, v] of readings) {
        if (prev && !(v > prev[1] && t > prev[0])) problems.push(`post ${i} (${post.id}) ${path}: [${t}, ${v}] follows [${prev[0]}, ${prev[1]}]`)
        prev = [t, v]
        const expectedT = produced.get(v)?.t
        if (expectedT === undefined || expectedT !== t) problems.push(`post ${i} ${path}: [${t}, ${v}] was never produced (expected time ${expectedT})`)
        const list = seen.get(v)
        if (list) list.push(i)
        else {
          seen.set(v, [i])
          if (v < (firstMax.get(path) ?? -Infinity)) problems.push(`post ${i} ${path}: ${v} first arrives after ${firstMax.get(path)}`)
          firstMax.set(path, Math.max(v, firstMax.get(path) ?? -Infinity))
        }
      }
      n += readings.length
    }
    if (n === 0) return
    deliveredTotal += n
    maxPerPost = Math.max(maxPerPost, n)
    if (n > MAX_PER_POST) problems.push(`post ${i} carries ${n} readings, more than ${MAX_PER_POST}`)
    lastAck.set(post.run, i)
    const content = JSON.stringify(Object.entries(post.body).map(([p, o]) => [p, o.Readings ?? []]))
    const before = contentById.get(post.id)
    if (before !== undefined && before !== content) idProblems.push(`batch id ${post.id} (post ${i}) was used before for other readings`)
    contentById.set(post.id, content)
    // an id names outbox positions (seq.entry.offset): the one it starts at always holds the same reading
    const start = /:(\d+\.\d+\.\d+)-/.exec(post.id)?.[1]
    const [path, obj] = Object.entries(post.body).find(([, o]) => (o.Readings ?? []).length > 0) as [string, { Readings: Array<[number, number]> }]
    const reading = `${path} ${obj.Readings[0]?.[1]}`
    const held = start === undefined ? undefined : readingAtStart.get(start)
    if (start === undefined) idProblems.push(`post ${i}: batch id ${post.id} does not name outbox positions`)
    else if (held !== undefined && held !== reading) idProblems.push(`outbox position ${start} held ${held}, then ${reading} (post ${i}, ${post.id})`)
    else readingAtStart.set(start, reading)
  })

  // completeness: what never arrived is a tail of a killed run, added just before its kill
  const lostPerRun = runs.map(() => 0)
  const lostAgeMax = runs.map(() => 0)
  const lostTicksMax = runs.map(() => 0)
  const lastTick = runs.map(() => 0)
  for (const p of produced.values()) lastTick[p.run] = Math.max(lastTick[p.run] as number, p.tick)
  for (const stream of STREAMS) {
    const seen = deliveries.get(stream) as Map<number, number[]>
    const lastDelivered = runs.map(() => -Infinity)
    for (const v of seen.keys()) {
      const k = produced.get(v)?.run
      if (k !== undefined) lastDelivered[k] = Math.max(lastDelivered[k] as number, v)
    }
    for (const [v, p] of produced) {
      if (seen.has(v)) continue
      const run = runs[p.run] as Run
      lostPerRun[p.run] = (lostPerRun[p.run] ?? 0) + 1
      const age = run.killAt - p.t
      const ticks = (lastTick[p.run] as number) - p.tick
      lostAgeMax[p.run] = Math.max(lostAgeMax[p.run] as number, age)
      lostTicksMax[p.run] = Math.max(lostTicksMax[p.run] as number, ticks)
      if (age > LOSS_WINDOW_MS && ticks > LOSS_TICKS) problems.push(`${stream} ${v} (run ${p.run}, added ${age} ms and ${ticks} ticks before its kill) was never delivered`)
      if (v < (lastDelivered[p.run] as number)) problems.push(`${stream} ${v} (run ${p.run}) is missing though the later ${lastDelivered[p.run]} arrived`)
    }
  }

  // everything in the outbox at a kill arrives
  let inOutboxAtKills = 0
  runs.forEach((run, k) => {
    inOutboxAtKills += run.atKill.size
    for (const key of run.atKill) {
      const [stream, v] = key.split(' ')
      if (!deliveries.get(stream as string)?.has(Number(v))) problems.push(`${key} was in the outbox at kill ${k} and was never delivered`)
    }
  })

  // duplicates: each earlier delivery was the last batch acknowledged before a kill, sent again after it
  const duplicatesPerRun = runs.map(() => 0)
  let duplicates = 0
  for (const [stream, seen] of deliveries) {
    for (const [v, at] of seen) {
      for (let d = 0; d + 1 < at.length; d++) {
        const a = posts[at[d] as number] as Post
        const b = posts[at[d + 1] as number] as Post
        duplicates++
        if (a.run < runs.length) duplicatesPerRun[a.run] = (duplicatesPerRun[a.run] ?? 0) + 1
        if (lastAck.get(a.run) !== at[d] || a.run >= runs.length || b.run <= a.run) {
          problems.push(`${stream} ${v} delivered twice, in post ${at[d]} (run ${a.run}, ${a.id}) and post ${at[d + 1]} (run ${b.run}, ${b.id}), not by a batch in flight at a kill`)
        } else if (!idsOverlap(a.id, b.id)) problems.push(`${stream} ${v} sent again as batch ${b.id}, which does not overlap ${a.id}`)
      }
    }
  }
  duplicatesPerRun.forEach((n, k) => {
    if (n > MAX_PER_POST) problems.push(`run ${k}: ${n} duplicates, more than one batch`)
  })

  const deliveredPerRun = runs.map(() => 0)
  for (const seen of deliveries.values()) {
    for (const v of seen.keys()) {
      const k = produced.get(v)?.run ?? 0
      deliveredPerRun[k] = (deliveredPerRun[k] ?? 0) + 1
    }
  }
  return {
    problems,
    idProblems,
    figures: {
      produced: produced.size * STREAMS.length,
      deliveredUnique: deliveredPerRun.reduce((a, b) => a + b, 0),
      deliveries: deliveredTotal,
      duplicates,
      duplicatesPerRun,
      lost: lostPerRun.reduce((a, b) => a + b, 0),
      lostPerRun,
      lostAgeMaxMs: lostAgeMax,
      lostTicksMax,
      deliveredPerRun,
      inOutboxAtKills,
      inOutboxPerKill: runs.map((r) => r.atKill.size),
      posts: posts.length,
      postsRefused: posts.filter((p) => p.status !== 200).length,
      maxPerPost,
    },
  }
}

/** Batch ids name outbox positions, `uuid:seq.i.from-seq.i.to`; do two ranges share a position? */
function idsOverlap(a: string, b: string): boolean {
  const range = (id: string): [number[], number[]] | undefined => {
    const m = /:(\d+)\.(\d+)\.(\d+)-(\d+)\.(\d+)\.(\d+)$/.exec(id)
    return m ? [m.slice(1, 4).map(Number), m.slice(4, 7).map(Number)] : undefined
  }
  const cmp = (x: number[], y: number[]): number => (x[0] as number) - (y[0] as number) || (x[1] as number) - (y[1] as number) || (x[2] as number) - (y[2] as number)
  const ra = range(a)
  const rb = range(b)
  if (!ra || !rb) return false
  return cmp(ra[0], rb[1]) < 0 && cmp(rb[0], ra[1]) < 0
}

/** The fixture's journal: each value and its time; `next` is the first value never produced. */
async function readJournal(file: string): Promise<{ values: Map<number, Produced>; next: number }> {
  const values = new Map<number, Produced>()
  let next = 1
  const text = await readFile(file, 'utf8').catch(() => '')
  const lines = text.split('\n')
  lines.pop() // a line without its newline was cut by the kill; its readings were never added
  for (const [tick, line] of lines.entries()) {
    const m = /^(\d+) (\d+) (\d+)$/.exec(line)
    if (!m) throw new Error(`journal ${file}: unreadable line "${line}"`)
    const [t, first, count] = [Number(m[1]), Number(m[2]), Number(m[3])]
    for (let j = 0; j < count; j++) values.set(first + j, { t: t - (count - 1 - j), run: -1, tick })
    next = Math.max(next, first + count)
  }
  return { values, next }
}

async function newestSegment(outbox: string): Promise<string> {
  const segments = (await readdir(outbox)).filter((f) => SEGMENT.test(f)).sort()
  const newest = segments[segments.length - 1]
  if (newest === undefined) throw new Error(`no outbox segment in ${outbox}, though the sink was down`)
  return join(outbox, newest)
}

const SEGMENT = /^seg-\d+\.db$/

interface OutboxDoc {
  _id?: string
  $$deleted?: boolean
  /** a chunk's or an offset document's sequence number */
  s?: number
  /** a chunk's entries (as stored before chunks became JSON strings) */
  e?: Array<{ p: string; r: Array<[number, number]> }>
  /** a chunk's entries as one JSON string */
  j?: string
  /** a chunk in report form: one JSON object of path → {uuid, Readings} (when no stream appears twice) */
  w?: string
  /** readings of each entry already delivered or dropped */
  o?: number[]
}

/** The readings an outbox's files hold, as `stream value`: chunk documents less the offsets recorded for them. */
async function readOutbox(outbox: string): Promise<Set<string>> {
  const out = new Set<string>()
  const files = await readdir(outbox).catch(() => [])
  for (const f of files.filter((name) => SEGMENT.test(name))) {
    const docs = new Map<string, OutboxDoc>()
    for (const line of (await readFile(join(outbox, f), 'utf8')).split('\n')) {
      let doc: OutboxDoc
      try {
        doc = JSON.parse(line) as typeof doc
      } catch {
        continue // an empty or torn line
      }
      if (typeof doc._id !== 'string') continue
      if (doc.$$deleted) docs.delete(doc._id)
      else docs.set(doc._id, doc)
    }
    const offsets = new Map<number, number[]>()
    for (const d of docs.values()) if (Array.isArray(d.o) && typeof d.s === 'number') offsets.set(d.s, d.o)
    for (const d of docs.values()) {
      const entries = typeof d.w === 'string' ? fromReportForm(d.w) : typeof d.j === 'string' ? (JSON.parse(d.j) as OutboxDoc['e']) : d.e
      if (!Array.isArray(entries) || typeof d.s !== 'number') continue
      entries.forEach((entry, i) => {
        for (const [, v] of entry.r.slice(offsets.get(d.s as number)?.[i] ?? 0)) out.add(`${entry.p} ${v}`)
      })
    }
  }
  return out
}

/** A chunk stored in report form, as entries in the order they were written. */
function fromReportForm(w: string): OutboxDoc['e'] {
  const body = JSON.parse(w) as Record<string, { Readings: Array<[number, number]> }>
  return Object.entries(body).map(([p, s]) => ({ p, r: s.Readings }))
}

interface ChannelStatus {
  backlogReadings: number
  pending: number
  state: string
  restored: number
  writeError: string | null
  deadLettered: number
  dropped: { total: number }
}

async function channelStatus(url: string): Promise<ChannelStatus> {
  const status = (await (await fetch(`${url}/status`)).json()) as { reports: Record<string, { channels: ChannelStatus[] }> }
  const [report] = Object.values(status.reports)
  if (!report?.channels[0]) throw new Error(`no report channel in /status: ${JSON.stringify(status)}`)
  return report.channels[0]
}

async function waitUntil<T>(probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const until = Date.now() + ms
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > until) throw new Error(`not reached within ${ms} ms`)
    await sleep(50)
  }
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function shuffle<T>(items: T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}
