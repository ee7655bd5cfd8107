// The sending end of bench/report.ts, one workload per process (argv[2]):
//   smap      SmapInstance with a subscription to the sink; inst.add N readings
//   baseline  the same readings appended to a file and POSTed by a bare loop
//   fill      SmapInstance whose subscriber is down: N readings end up in the outbox
//   drain     a new SmapInstance on the filled data dir, subscriber up
// The event loop is watched from the start with monitorEventLoopDelay.
import { appendFile } from 'node:fs/promises'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises'
import { serve, SmapInstance, uuid5, type Logger } from '@smap/core'
import {
  BURST,
  FLUSH_MS,
  freePort,
  HOST,
  loopStats,
  MAX_BUFFER,
  now,
  PATHS,
  POST_READINGS,
  REPORT_UUID,
  ROOT,
  STREAMS,
  fromParent,
  toParent,
  type Role,
  type Setup,
  type SubjectResult,
} from './_report-ipc.js'

/** How long `fill` keeps its backlog with the subscriber down, GETs being served. */
const HOLD_MS = 3000

const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()

const logged: string[] = []
const logger: Logger = {
  info: () => {},
  warn: (message) => void logged.push(`warning: ${message}`),
  error: (message, err) => void logged.push(`error: ${message}${err instanceof Error ? `: ${err.message}` : ''}`),
}

function maxRssKiB(): number {
  return process.resourceUsage().maxRSS
}

function createInstance(dataDir: string): SmapInstance {
  const inst = new SmapInstance(ROOT, { logger, server: { dataDir, flushInterval: FLUSH_MS } })
  PATHS.forEach((path, i) => inst.addTimeseries(path, `sensor${i}`, 'V'))
  return inst
}

async function subscribe(inst: SmapInstance, deliverTo: string): Promise<void> {
  await inst.addReport({ uuid: REPORT_UUID, ReportResource: '/+', ReportDeliveryLocation: deliverTo, MaxBuffer: MAX_BUFFER })
}

interface ChannelFigures {
  backlog: number
  dropped: number
  delivered: number
  restored: number
}

async function channel(inst: SmapInstance): Promise<ChannelFigures> {
  const { reports } = await inst.status()
  const c = (reports[REPORT_UUID] as { channels: Array<{ backlogReadings: number; dropped: { total: number }; delivered: number; restored: number }> }).channels[0]
  if (!c) throw new Error(`report ${REPORT_UUID} has no channel`)
  return { backlog: c.backlogReadings, dropped: c.dropped.total, delivered: c.delivered, restored: c.restored }
}

/** Values 0..n-1 round-robin over the streams, in bursts with a yield between them so the flush timer and delivery run. */
async function addReadings(inst: SmapInstance, n: number): Promise<void> {
  let p = 0
  for (let k = 0; k < n; ) {
    const end = Math.min(n, k + BURST)
    for (; k < end; k++) {
      inst.add(PATHS[p] as string, k)
      if (++p === STREAMS) p = 0
    }
    await yieldToLoop()
  }
}

/** The last message: then the process exits by itself (so that --cpu-prof can write its profile). */
function sendResult(extra: Partial<SubjectResult> = {}): void {
  const m: SubjectResult = { type: 'result', maxRssKiB: maxRssKiB(), loop: loopStats(loop), logged, ...extra }
  process.send?.(m, () => process.exit(0))
}

async function runSmap(setup: Setup): Promise<void> {
  const inst = createInstance(setup.dataDir)
  await subscribe(inst, setup.deliverTo)
  await inst.start()
  toParent({ type: 'ready' })
  await fromParent('go')
  loop.reset()
  const t0 = now()
  await addReadings(inst, setup.readings)
  toParent({ type: 'added', t0, at: now() })
  await fromParent('finish')
  const stats = loopStats(loop)
  const figures = await channel(inst)
  await inst.stop()
  sendResult({ loop: stats, ...figures })
}

/** The same readings, persisted as JSON lines and POSTed in batches of POST_READINGS, one request in flight. */
async function runBaseline(setup: Setup): Promise<void> {
  const file = join(setup.dataDir, 'baseline.jsonl')
  const uuids = PATHS.map((_, i) => uuid5(ROOT, `sensor${i}`))
  const pending: Array<Array<[number, number]>> = PATHS.map(() => [])
  let batches = 0
  const ship = async (): Promise<void> => {
    const lines: string[] = []
    const body: Record<string, { uuid: string; Readings: Array<[number, number]> }> = {}
    for (let i = 0; i < STREAMS; i++) {
      const r = pending[i] as Array<[number, number]>
      if (r.length === 0) continue
      lines.push(JSON.stringify({ p: PATHS[i], u: uuids[i], r }))
      body[PATHS[i] as string] = { uuid: uuids[i] as string, Readings: r }
      pending[i] = []
    }
    await appendFile(file, `${lines.join('\n')}\n`)
    const res = await fetch(setup.deliverTo, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json', 'X-Smap-Batch-Id': `baseline:${batches++}` },
    })
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`baseline: ${setup.deliverTo} answered ${res.status}`)
  }
  toParent({ type: 'ready' })
  await fromParent('go')
  loop.reset()
  const t0 = now()
  let p = 0
  let inBatch = 0
  for (let k = 0; k < setup.readings; k++) {
    ;(pending[p] as Array<[number, number]>).push([Date.now(), k])
    if (++p === STREAMS) p = 0
    if (++inBatch === POST_READINGS) {
      await ship()
      inBatch = 0
    }
  }
  if (inBatch > 0) await ship()
  toParent({ type: 'added', t0, at: now() })
  await fromParent('finish')
  sendResult()
}

async function runFill(setup: Setup): Promise<void> {
  const inst = createInstance(setup.dataDir)
  await subscribe(inst, setup.deliverTo)
  const server = await serve(inst, { port: 0, host: HOST })
  toParent({ type: 'ready', url: server.url })
  await fromParent('go')
  loop.reset()
  const t0 = now()
  await addReadings(inst, setup.readings)
  const added = now()
  await inst.flush()
  const flushed = now()
  toParent({ type: 'filled', addMs: added - t0, flushMs: flushed - added, backlog: (await channel(inst)).backlog, loop: loopStats(loop) })
  loop.reset()
  await sleep(HOLD_MS)
  toParent({ type: 'held', heldMs: now() - flushed, backlog: (await channel(inst)).backlog, loop: loopStats(loop) })
  await fromParent('finish')
  const figures = await channel(inst)
  const stopping = now()
  await server.close() // inst.stop(): flushes, stops delivery
  sendResult({ ...figures, stopMs: now() - stopping })
}

async function runDrain(setup: Setup): Promise<void> {
  const port = await freePort()
  toParent({ type: 'ready', url: `http://${HOST}:${port}` })
  await fromParent('go')
  loop.reset()
  const t0 = now()
  const inst = createInstance(setup.dataDir)
  await subscribe(inst, setup.deliverTo)
  const server = await serve(inst, { port, host: HOST }) // listens, then inst.start() loads the outbox
  toParent({ type: 'started', t0, at: now(), loop: loopStats(loop) })
  loop.reset()
  await fromParent('finish')
  const stats = loopStats(loop)
  const figures = await channel(inst)
  await server.close()
  sendResult({ loop: stats, ...figures })
}

const runners: Record<Role, (setup: Setup) => Promise<void>> = { smap: runSmap, baseline: runBaseline, fill: runFill, drain: runDrain }

process.once('disconnect', () => process.exit(0))
const role = process.argv[2] as Role
const run = runners[role]
if (!run) throw new Error(`_report-subject: unknown role ${JSON.stringify(role)}; expected one of ${Object.keys(runners).join(', ')}`)
try {
  await run(await fromParent('setup'))
} catch (err) {
  console.error(`report subject (${role}): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exit(1)
}
