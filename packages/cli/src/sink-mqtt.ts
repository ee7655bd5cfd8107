import { appendFile } from 'node:fs/promises'
import mqtt, { type IPublishPacket } from 'mqtt'
import { UsageError, untilSignal } from './commands.js'
import { checkWritable, describeRecord, iso, parseReport, plural, toRecords, warn } from './sink-records.js'

/** Message ids (`smap-batch`/`smap-part`) remembered to drop repeats: a repeat is always one of the latest. */
const REMEMBER = 100_000

/** `mqtt://host:port/PREFIX/#` as the broker and the topic filter (`#` when none is given). */
export function parseMqttSink(url: string, group: string | undefined): { broker: string; filter: string } {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new UsageError(`--mqtt: "${url}" is not a URL; give one like mqtt://broker:1883/smap/#`)
  }
  if (u.protocol !== 'mqtt:' && u.protocol !== 'mqtts:') throw new UsageError(`--mqtt: "${url}" must be an mqtt:// or mqtts:// URL, like mqtt://broker:1883/smap/#`)
  if (u.username || u.password) throw new UsageError('--mqtt: a user or password in the URL would show in the process list and the shell history; give them with SMAP_MQTT_USERNAME and SMAP_MQTT_PASSWORD')
  // the filter is the raw text after the host (`#` would be a URL's fragment); none is everything
  const slash = url.indexOf('/', url.indexOf('//') + 2)
  const topic = (slash === -1 ? '' : url.slice(slash + 1)).trim() || '#'
  if (group !== undefined && !/^[^/+#]+$/.test(group)) throw new UsageError(`--group: "${group}" must be a name without /, + or #`)
  return { broker: `${u.protocol}//${u.host}`, filter: group === undefined ? topic : `$share/${group}/${topic}` }
}

/**
 * `smap sink --mqtt URL [--group NAME] [--out FILE]`: subscribes to reports
 * published by sources to a broker and writes the same lines as the HTTP
 * sink. A message is acknowledged only once its lines are written, repeats
 * of a message (a batch sent again) are dropped, and retained objects on
 * metadata topics only teach it units. With `--group`, sinks of one group
 * share the stream (MQTT 5 shared subscription): each message goes to one.
 */
export async function runMqttSink(url: string, o: { group?: string | undefined; out?: string | undefined }): Promise<void> {
  const { broker, filter } = parseMqttSink(url, o.group)
  const out = o.out
  if (out !== undefined) await checkWritable(out)
  const units = new Map<string, string>()
  const seen = new Set<string>()
  const client = mqtt.connect(broker, {
    protocolVersion: 5,
    reconnectPeriod: 1000,
    connectTimeout: 10_000,
    ...(process.env.SMAP_MQTT_USERNAME ? { username: process.env.SMAP_MQTT_USERNAME } : {}),
    ...(process.env.SMAP_MQTT_PASSWORD ? { password: process.env.SMAP_MQTT_PASSWORD } : {}),
  })
  let writing: Promise<void> = Promise.resolve()
  // the PUBACK goes once `done` is called: after the lines are on disk
  client.handleMessage = (packet: IPublishPacket, done: (err?: Error) => void): void => {
    const step = writing.then(() => take(packet))
    writing = step.catch(() => undefined)
    step.then(() => done(), (err: Error) => done(err))
  }
  async function take(packet: IPublishPacket): Promise<void> {
    const received = Date.now()
    const props = packet.properties?.userProperties ?? {}
    const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v)
    const batch = one(props['smap-batch'])
    const key = batch === undefined ? undefined : `${batch}/${one(props['smap-part']) ?? ''}/${packet.topic}`
    if (key !== undefined && seen.has(key)) {
      process.stdout.write(`${iso(received)} duplicate of a message of batch ${batch}, dropped\n`)
      return
    }
    let report
    try {
      report = parseReport(Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload))
    } catch (err) {
      warn(received, `${packet.topic}: ${(err as Error).message}; skipped`)
      return
    }
    const records = toRecords(report, received, batch ?? null, units)
    // a retained object on a metadata topic describes a stream; its readings come on the stream's own topic
    const lines = packet.retain || /(^|\/)meta\//.test(packet.topic) ? [] : records
    if (out !== undefined && lines.length > 0) await appendFile(out, lines.map((r) => `${JSON.stringify(r)}\n`).join(''))
    if (key !== undefined) {
      seen.add(key)
      if (seen.size > REMEMBER) seen.delete(seen.values().next().value as string)
    }
    if (lines.length === 0) return
    if (out !== undefined) process.stdout.write(`${iso(received)} ${plural(lines.reduce((n, r) => n + r.readings.length, 0), 'reading')} from ${packet.topic} -> ${out}\n`)
    else for (const r of lines) process.stdout.write(`${describeRecord(r)}\n`)
  }

  const signalled = untilSignal()
  await new Promise<void>((resolveUp) => {
    let said = ''
    client.on('connect', () => {
      void client.subscribeAsync(filter, { qos: 1 }).then((granted) => {
        const code = granted[0]?.qos ?? 0x80
        if (code >= 0x80) warn(Date.now(), `the broker refused the subscription to ${filter} (reason ${code})${o.group ? '; does it take MQTT 5 shared subscriptions?' : ''}`)
        else process.stdout.write(`sink subscribed to ${broker} ${filter}${o.group ? ` (group ${o.group}: sharing with the group's other sinks)` : ''}${out === undefined ? '' : ` (appending to ${out})`}\n`)
        resolveUp()
      }, (err: Error) => warn(Date.now(), `cannot subscribe to ${filter}: ${err.message}`))
    })
    client.on('error', (err: Error & { code?: string | number }) => {
      const why = err.code === 'ECONNREFUSED' ? `${broker}: connection refused (is the broker running?)` : typeof err.code === 'number' && err.code >= 0x80 ? `${broker} refused the connection (reason ${err.code}): ${err.message}; a login goes in SMAP_MQTT_USERNAME and SMAP_MQTT_PASSWORD` : `${broker}: ${err.message}`
      if (why !== said) warn(Date.now(), `${why}; trying again every second`)
      said = why
    })
    void signalled.then(() => resolveUp())
  })
  await signalled
  await writing
  await client.endAsync()
  process.stdout.write('sink stopped\n')
}
