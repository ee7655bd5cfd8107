import { appendFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { gunzip as gunzipCb, inflate as inflateCb, inflateRaw as inflateRawCb } from 'node:zlib'
import { listenError } from '@smap/core'
import { defineCommand } from 'citty'
import { parsePortArg, UsageError, untilSignal } from './commands.js'
import { checkWritable, describeRecord, iso, parseReport, plural, Refusal, toRecords, warn } from './sink-records.js'

export type { SinkRecord } from './sink-records.js'

const gunzip = promisify(gunzipCb)
const inflate = promisify(inflateCb)
const inflateRaw = promisify(inflateRawCb)

/** The largest report the sink takes, before and after decompression. */
export const SINK_MAX_BODY_BYTES = 64 * 1024 * 1024
const DEFAULT_SINK_PORT = 8079
const DEFAULT_SINK_HOST = '127.0.0.1'
const BATCH_ID_HEADER = 'x-smap-batch-id'

export const sinkCommand = defineCommand({
  meta: { name: 'sink', description: 'Receive sMAP reports and print them (or append them to a JSONL file), for trying reporting without an archiver' },
  args: {
    port: { type: 'string', description: `HTTP port; 0 picks a free one (default ${DEFAULT_SINK_PORT})` },
    host: { type: 'string', description: `address to listen on (default ${DEFAULT_SINK_HOST})` },
    out: { type: 'string', description: 'append one JSON line per stream batch to this file (e.g. reports.jsonl)' },
    mqtt: { type: 'string', description: 'take reports from an MQTT broker instead, e.g. mqtt://broker:1883/PREFIX/# (the topic filter after the host)' },
    group: { type: 'string', description: 'with --mqtt: share the subscription with every sink of this group name, each getting a part (MQTT 5 $share)' },
  },
  async run({ args }) {
    // the MQTT client library is loaded only for this: every other command, `smap run` included, starts without it
    if (args.mqtt !== undefined) return (await import('./sink-mqtt.js')).runMqttSink(args.mqtt, { group: args.group, out: args.out })
    if (args.group !== undefined) throw new UsageError('--group shares an MQTT subscription: give it with --mqtt URL')
    const port = parsePortArg(args.port) ?? DEFAULT_SINK_PORT
    const host = args.host ?? DEFAULT_SINK_HOST
    const out = args.out
    if (out !== undefined) await checkWritable(out)

    const units = new Map<string, string>()
    // appends happen in arrival order, and a report is answered 200 only once its lines are written
    let writing: Promise<void> = Promise.resolve()
    const record = (lines: string): Promise<void> => {
      const next = writing.then(() => appendFile(out as string, lines))
      writing = next.catch(() => undefined)
      return next
    }

    const seenBatches = new Set<string>()
    const server = createServer((req, res) => {
      void handle(req, res)
    })
    async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const received = Date.now()
      try {
        if (req.method !== 'POST') {
          res.setHeader('Allow', 'POST')
          throw new Refusal(405, `${req.method ?? '?'} is not allowed; POST a report (to /add)`)
        }
        const report = parseReport(await readBody(req))
        const batchHeader = req.headers[BATCH_ID_HEADER]
        const batch = (Array.isArray(batchHeader) ? batchHeader[0] : batchHeader) ?? null
        if (batch !== null && seenBatches.has(batch)) {
          // delivered before (the source crashed before it recorded our 200): acknowledge, do not record twice
          send(res, 200)
          process.stdout.write(`${iso(received)} duplicate of batch ${batch}, dropped\n`)
          return
        }
        const records = toRecords(report, received, batch, units)
        if (out !== undefined && records.length > 0) {
          try {
            await record(records.map((r) => `${JSON.stringify(r)}\n`).join(''))
          } catch (err) {
            // not acknowledged, so the source keeps the readings and sends them again
            warn(received, `cannot append to ${out}: ${(err as Error).message}; answered 500 so the source retries`)
            send(res, 500, `the sink cannot write ${out}: ${(err as Error).message}`)
            return
          }
        }
        if (batch !== null) {
          seenBatches.add(batch)
          // remember the latest ids only: a duplicate is always one of the last batches sent
          if (seenBatches.size > 10_000) seenBatches.delete(seenBatches.values().next().value as string)
        }
        send(res, 200)
        if (records.length === 0) process.stdout.write(`${iso(received)} empty report\n`)
        else if (out !== undefined) {
          const n = records.reduce((sum, r) => sum + r.readings.length, 0)
          process.stdout.write(`${iso(received)} ${plural(n, 'reading')} of ${plural(records.length, 'stream')} -> ${out}\n`)
        } else for (const r of records) process.stdout.write(`${describeRecord(r)}\n`)
      } catch (err) {
        if (!(err instanceof Refusal)) {
          if (req.destroyed || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
            warn(received, `${req.socket.remoteAddress ?? '?'} closed the connection before sending the whole report`)
            return
          }
          // a bug in the sink: answer 500 (the source retries) and keep running
          process.stderr.write(`${iso(received)} error: unexpected error, please report it:\n${err instanceof Error ? err.stack : String(err)}\n`)
          if (!res.headersSent) send(res, 500, 'internal error in the sink; its output has the details')
          return
        }
        warn(received, `${err.status} to ${req.method ?? '?'} ${req.url ?? ''} from ${req.socket.remoteAddress ?? '?'}: ${err.message}`)
        if (err.status === 413) res.setHeader('Connection', 'close')
        send(res, err.status, err.message)
        // stop reading a body that is too large
        if (err.status === 413) res.once('finish', () => req.destroy())
      }
    }

    const actual = await listen(server, port, host)
    const shownHost = host.includes(':') ? `[${host}]` : host
    const signalled = untilSignal() // before the line a supervisor waits for
    process.stdout.write(`sink listening on http://${shownHost}:${actual}/add${out === undefined ? '' : ` (appending to ${out})`}\n`)

    await signalled
    // stop taking reports, let those in flight finish their writes, then drop idle connections
    const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()))
    server.closeIdleConnections()
    await writing
    server.closeAllConnections()
    await closed
    process.stdout.write('sink stopped\n')
  },
})

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolveListen, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(listenError(err, port, host, { port: 'with --port', host: '--host', privileged: ' with --port' }))
    })
    server.listen(port, host, () => resolveListen((server.address() as AddressInfo).port))
  })
}

/** The request body, decompressed, within SINK_MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<Buffer> {
  const tooLarge = `report body larger than ${SINK_MAX_BODY_BYTES / 1024 / 1024} MiB`
  if (Number(req.headers['content-length'] ?? 0) > SINK_MAX_BODY_BYTES) throw new Refusal(413, tooLarge)
  // read by hand: leaving a for-await early would destroy the socket before the 413 is sent
  const raw = await new Promise<Buffer>((resolveBody, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > SINK_MAX_BODY_BYTES) {
        req.off('data', onData)
        req.pause()
        reject(new Refusal(413, tooLarge))
      } else chunks.push(chunk)
    }
    req.on('data', onData)
    req.once('end', () => resolveBody(Buffer.concat(chunks)))
    req.once('error', reject)
  })
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase()
  if (encoding === 'identity' || encoding === '') return raw
  if (encoding !== 'gzip' && encoding !== 'x-gzip' && encoding !== 'deflate') throw new Refusal(415, `Content-Encoding "${encoding}" is not supported; send gzip, deflate or none`)
  try {
    // by what the bytes are, not only the label: the original sMAP sent zlib labelled gzip, and "deflate" is zlib or raw in the wild
    const decode = isGzip(raw) ? gunzip : isZlib(raw) ? inflate : encoding === 'deflate' ? inflateRaw : gunzip
    return await decode(raw, { maxOutputLength: SINK_MAX_BODY_BYTES })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new Refusal(413, `${tooLarge} once decompressed`)
    throw new Refusal(400, `report body is not valid ${encoding}: ${(err as Error).message}`)
  }
}

/** RFC 1952's magic bytes. */
function isGzip(b: Buffer): boolean {
  return b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b
}

/** An RFC 1950 header: method 8 (deflate), and the two bytes a multiple of 31. */
function isZlib(b: Buffer): boolean {
  return b.length >= 2 && ((b[0] as number) & 0x0f) === 8 && (((b[0] as number) << 8) | (b[1] as number)) % 31 === 0
}

function send(res: ServerResponse, status: number, message?: string): void {
  if (message === undefined) {
    res.writeHead(status, { 'Content-Length': '0' }).end()
    return
  }
  const body = `${message}\n`
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)) }).end(body)
}

