// The receiving end of bench/report.ts: a bare node:http server in its own
// process that parses each POSTed report, counts its readings and answers 200.
// A batch it has already acknowledged (same X-Smap-Batch-Id) is answered but
// not counted again.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HOST, now, toParent, type SinkCounts, type ToSink } from './_report-ipc.js'

process.once('disconnect', () => process.exit(0))

let expect = Number.POSITIVE_INFINITY
let readings = 0
let valueSum = 0
let posts = 0
let duplicates = 0
let seen = new Set<string>()

function counts(): SinkCounts {
  const { user, system } = process.cpuUsage()
  return { readings, valueSum, posts, duplicates, cpuMicros: user + system }
}

process.on('message', (m: ToSink) => {
  if (m.type === 'reset') {
    expect = m.expect
    readings = valueSum = posts = duplicates = 0
    seen = new Set()
  } else if (m.type === 'counts') toParent({ type: 'counts', ...counts() })
})

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405).end()
    return
  }
  const parts: Buffer[] = []
  req.on('data', (b: Buffer) => parts.push(b))
  req.on('end', () => {
    let doc: Record<string, { Readings?: unknown }>
    try {
      doc = JSON.parse(Buffer.concat(parts).toString('utf8')) as Record<string, { Readings?: unknown }>
    } catch (err) {
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end(`not JSON: ${(err as Error).message}`)
      return
    }
    let n = 0
    let sum = 0
    for (const key in doc) {
      const r = doc[key]?.Readings
      if (!Array.isArray(r)) continue
      n += r.length
      for (const reading of r as Array<[number, number]>) sum += reading[1]
    }
    posts++
    const id = req.headers['x-smap-batch-id']
    if (typeof id === 'string' && seen.has(id)) duplicates++
    else {
      if (typeof id === 'string') seen.add(id)
      readings += n
      valueSum += sum
    }
    res.writeHead(200, { 'Content-Length': '0' }).end()
    if (readings >= expect) {
      expect = Number.POSITIVE_INFINITY
      toParent({ type: 'reached', at: now(), ...counts() })
    }
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, HOST, () => toParent({ type: 'ready', url: `http://${HOST}:${(server.address() as AddressInfo).port}` }))
