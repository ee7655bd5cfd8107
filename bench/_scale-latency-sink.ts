// The receiver of bench/scale.ts's latency section: a bare node:http server in
// its own process, like bench/_report-sink.ts, that takes each reading's value
// as the time it was added (epoch ms, sub-ms, from the source's now()) and
// keeps [added, arrival - added] for every reading, arrival being the moment
// its POST body is parsed here.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { HOST, now } from './_report-ipc.js'
import type { FromLatencySink, ToLatencySink } from './_scale-ipc.js'

process.once('disconnect', () => process.exit(0))

const pairs: Array<[number, number]> = []

function toParent(m: FromLatencySink): void {
  process.send?.(m)
}

process.on('message', (m: ToLatencySink) => {
  if (m.type === 'arrivals') toParent({ type: 'arrivals', pairs })
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
    const at = now()
    for (const key in doc) {
      const r = doc[key]?.Readings
      if (!Array.isArray(r)) continue
      for (const reading of r as Array<[number, number]>) pairs.push([reading[1], at - reading[1]])
    }
    res.writeHead(200, { 'Content-Length': '0' }).end()
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, HOST, () => toParent({ type: 'ready', url: `http://${HOST}:${(server.address() as AddressInfo).port}` }))
