// GET /data/PATH requests/s on the sMAP server, against a bare node:http server
// answering the same bytes, measured in the same run with autocannon.
// Run from the repository root: npx tsx --conditions=@smap/source bench/http.ts
//
// Each server runs alone in a child process, so that it does not share an event
// loop with the load generator (this process) or with the other server.
import { fork, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { serve, SmapInstance } from '@smap/core'
import { formatRate, formatRatio, median } from './_stats.js'

const PATH = '/data/instrument0/sensor0'
const CONNECTIONS = 10
const PIPELINING = 1
const WARMUP_SECONDS = 2
const ROUND_SECONDS = 5
const ROUNDS = 3
const TARGET = 0.6
const HOST = '127.0.0.1'

type ToChild = { type: 'body'; body: string } | { type: 'usage' }
type FromChild = { type: 'ready'; url: string } | { type: 'usage'; micros: number }

// ---- children: one server each ----

function send(message: FromChild): void {
  process.send?.(message)
}

function answerUsage(message: ToChild): void {
  if (message.type === 'usage') {
    const { user, system } = process.cpuUsage()
    send({ type: 'usage', micros: user + system })
  }
}

async function runSmapServer(): Promise<void> {
  const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92')
  inst.addTimeseries('/instrument0/sensor0', 'sensor0', 'V')
  inst.add('/instrument0/sensor0', 42)
  const server = await serve(inst, { port: 0, host: HOST })
  process.on('message', answerUsage)
  send({ type: 'ready', url: server.url })
}

function runBareServer(): void {
  process.once('message', (first: ToChild) => {
    if (first.type !== 'body') throw new Error(`bare server: expected the body first, got ${first.type}`)
    const body = Buffer.from(first.body, 'base64')
    const length = String(body.length)
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': length })
      res.end(body)
    })
    server.listen(0, HOST, () => {
      process.on('message', answerUsage)
      send({ type: 'ready', url: `http://${HOST}:${(server.address() as AddressInfo).port}` })
    })
  })
}

// ---- parent: the load generator ----

interface Target {
  name: string
  child: ChildProcess
  url: string
  rates: number[]
  p99s: number[]
  cpuPerRequest: number[]
}

function nextMessage<T extends FromChild['type']>(child: ChildProcess, type: T): Promise<Extract<FromChild, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromChild): void => {
      if (m.type !== type) return
      cleanup()
      resolve(m as Extract<FromChild, { type: T }>)
    }
    const onExit = (code: number | null): void => {
      cleanup()
      reject(new Error(`server process ${child.pid} exited (code ${code}) before sending "${type}"`))
    }
    const cleanup = (): void => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

function startChild(role: string): ChildProcess {
  // execArgv carries tsx's loader and --conditions to the child
  return fork(fileURLToPath(import.meta.url), [role], { execArgv: process.execArgv })
}

async function cpuMicros(child: ChildProcess): Promise<number> {
  const reply = nextMessage(child, 'usage')
  child.send({ type: 'usage' } satisfies ToChild)
  return (await reply).micros
}

interface Round {
  result: autocannon.Result
  /** Share of one core the server used. */
  serverCpu: number
  /** Server CPU time per request: steadier than requests/s on a busy machine. */
  serverMicrosPerRequest: number
  /** Share of one core autocannon used; near 100% means the load generator, not the server, is the limit. */
  clientCpu: number
}

/** One autocannon run; throws if any request failed. */
async function load(t: Target, seconds: number): Promise<Round> {
  const serverBefore = await cpuMicros(t.child)
  const clientBefore = process.cpuUsage()
  const result = await autocannon({ url: t.url + PATH, connections: CONNECTIONS, pipelining: PIPELINING, duration: seconds })
  const client = process.cpuUsage(clientBefore)
  const serverCpu = (await cpuMicros(t.child)) - serverBefore
  const codes = Object.keys(result.statusCodeStats)
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0 || result.mismatches > 0 || result.requests.total === 0 || codes.some((c) => c !== '200')) {
    throw new Error(
      `${t.name} at ${t.url + PATH}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx ` +
        `(status codes ${JSON.stringify(result.statusCodeStats)}), ${result.requests.total} completed requests; every request must get a 200`,
    )
  }
  const wallMicros = result.duration * 1e6
  return {
    result,
    serverCpu: serverCpu / wallMicros,
    serverMicrosPerRequest: serverCpu / result.requests.total,
    clientCpu: (client.user + client.system) / wallMicros,
  }
}

async function main(): Promise<void> {
  const children: ChildProcess[] = []
  try {
    const smapChild = startChild('smap-server')
    children.push(smapChild)
    const smapUrl = (await nextMessage(smapChild, 'ready')).url

    const res = await fetch(smapUrl + PATH)
    const body = Buffer.from(await res.arrayBuffer())
    if (res.status !== 200 || res.headers.get('content-type') !== 'application/json') {
      throw new Error(`GET ${smapUrl + PATH}: expected 200 application/json, got ${res.status} ${res.headers.get('content-type')}: ${body.toString()}`)
    }

    const bareChild = startChild('bare-server')
    children.push(bareChild)
    const bareReady = nextMessage(bareChild, 'ready')
    bareChild.send({ type: 'body', body: body.toString('base64') } satisfies ToChild)
    const bareUrl = (await bareReady).url
    const bareBody = Buffer.from(await (await fetch(bareUrl + PATH)).arrayBuffer())
    if (!bareBody.equals(body)) throw new Error(`the bare server answers ${bareBody.toString()}, not the sMAP body ${body.toString()}`)

    const bare: Target = { name: 'bare node:http', child: bareChild, url: bareUrl, rates: [], p99s: [], cpuPerRequest: [] }
    const smap: Target = { name: 'sMAP', child: smapChild, url: smapUrl, rates: [], p99s: [], cpuPerRequest: [] }

    console.log(
      `http: GET ${PATH} (${body.length} bytes), ${CONNECTIONS} connections, pipelining ${PIPELINING}; ` +
        `${ROUNDS} interleaved rounds of ${ROUND_SECONDS} s each after ${WARMUP_SECONDS} s warm-up, each server in its own process`,
    )
    for (const t of [bare, smap]) await load(t, WARMUP_SECONDS)
    const ratios: number[] = []
    for (let r = 0; r < ROUNDS; r++) {
      // bare, sMAP, then sMAP, bare, ... so neither always runs first
      const order = r % 2 === 0 ? [bare, smap] : [smap, bare]
      const parts: string[] = []
      for (const t of order) {
        const { result, serverCpu, serverMicrosPerRequest, clientCpu } = await load(t, ROUND_SECONDS)
        const rate = result.requests.total / result.duration
        t.rates.push(rate)
        t.p99s.push(result.latency.p99)
        t.cpuPerRequest.push(serverMicrosPerRequest)
        parts.push(
          `${t.name} ${formatRate(rate)} req/s, p99 ${result.latency.p99} ms ` +
            `(server ${(serverCpu * 100).toFixed(0)}% CPU, ${serverMicrosPerRequest.toFixed(0)} us CPU/request; autocannon ${(clientCpu * 100).toFixed(0)}% CPU)`,
        )
      }
      ratios.push((smap.rates[r] as number) / (bare.rates[r] as number))
      console.log(`  round ${r + 1}: ${parts.join('; ')}`)
    }
    console.log(
      `sMAP GET: ${formatRate(median(smap.rates))} requests/s, p99 ${median(smap.p99s)} ms; ` +
        `bare node:http: ${formatRate(median(bare.rates))} requests/s, p99 ${median(bare.p99s)} ms; ` +
        `ratio ${formatRatio(median(ratios), TARGET)}`,
    )
    console.log(
      `server CPU per request: sMAP ${median(smap.cpuPerRequest).toFixed(0)} us, bare node:http ${median(bare.cpuPerRequest).toFixed(0)} us ` +
        `(ratio ${(median(bare.cpuPerRequest) / median(smap.cpuPerRequest)).toFixed(2)}x; steadier than requests/s on a busy machine)`,
    )
  } finally {
    for (const child of children) child.kill()
  }
}

const role = process.argv[2]
// a server outlives no benchmark: it goes when the parent does
if (role !== undefined) process.once('disconnect', () => process.exit(0))
if (role === 'smap-server') await runSmapServer()
else if (role === 'bare-server') runBareServer()
else {
  try {
    await main()
    process.exit(0)
  } catch (err) {
    console.error(`http: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  }
}
