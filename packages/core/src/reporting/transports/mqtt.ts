import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type * as Mqtt from 'mqtt'
import type { BrokerSettings } from '../../credentials.js'
import type { DeliveryOutcome } from './http.js'

/** The MQTT client library, loaded when a report first connects to a broker (most sources have none, and it is about 200 ms of start-up). */
let mqttLibrary: Promise<typeof Mqtt> | undefined
const loadMqtt = (): Promise<typeof Mqtt> => (mqttLibrary ??= import('mqtt'))

/** Readings of one stream in one message at most; a longer run goes in several, in order. */
export const MQTT_READINGS_PER_MESSAGE = 1000
/** Messages handed to the client before the event loop gets a turn. */
const PUBLISH_SLICE = 200

/** `mqtt://host:port/PREFIX` as the broker's URL and the topic prefix (without slashes at its ends). */
export function parseMqttLocation(location: string): { broker: string; prefix: string } {
  const url = new URL(location)
  const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '')
  return { broker: `${url.protocol}//${url.host}`, prefix }
}

/** Whether a delivery location is a broker's. */
export function isMqttLocation(location: string): boolean {
  return /^mqtts?:\/\//i.test(location)
}

/**
 * The topics of a stream or collection at `path` of the source `root`:
 * readings on `PREFIX/ROOT/PATH`, its full object (retained) on
 * `PREFIX/meta/ROOT/PATH`. The root collection's is `PREFIX/meta/ROOT`.
 */
export function mqttTopics(prefix: string, root: string, path: string): { data: string; meta: string } {
  const tail = path === '/' ? '' : path
  const head = prefix === '' ? '' : `${prefix}/`
  return { data: `${head}${root}${tail}`, meta: `${head}meta/${root}${tail}` }
}

/** One MQTT message of a report. */
export interface MqttMessage {
  topic: string
  payload: string
  retain: boolean
}

/** A report body (`{ path: object }`) as messages: per stream its readings, and each full object retained on its metadata topic. */
export function mqttMessages(body: Record<string, { Readings?: unknown[]; Contents?: unknown; Properties?: unknown }>, prefix: string, root: string): MqttMessage[] {
  const out: MqttMessage[] = []
  for (const [path, obj] of Object.entries(body)) {
    const topics = mqttTopics(prefix, root, path)
    const full = obj.Contents !== undefined || obj.Properties !== undefined
    if (full) out.push({ topic: topics.meta, payload: JSON.stringify({ [path]: obj.Readings === undefined ? obj : { ...obj, Readings: [] } }), retain: true })
    const readings = obj.Readings
    if (readings === undefined) continue
    // a stream's full object goes on its data topic too, as an HTTP subscriber gets it first, readings or not
    if (readings.length === 0) {
      if (full) out.push({ topic: topics.data, payload: JSON.stringify({ [path]: obj }), retain: false })
      continue
    }
    for (let i = 0; i < readings.length; i += MQTT_READINGS_PER_MESSAGE) {
      // the first message of a stream seen for the first time carries its full object, as an HTTP report does
      const part = i === 0 ? { ...obj, Readings: readings.slice(0, MQTT_READINGS_PER_MESSAGE) } : { uuid: (obj as { uuid?: string }).uuid, Readings: readings.slice(i, i + MQTT_READINGS_PER_MESSAGE) }
      out.push({ topic: topics.data, payload: JSON.stringify({ [path]: part }), retain: false })
    }
  }
  return out
}

/** A client id the broker keeps the session under: the same for the same source, report and broker, at most 23 characters. */
export function mqttClientId(root: string, report: string, location: string): string {
  return `smap-${createHash('sha1').update(`${root}\n${report}\n${location}`).digest('hex').slice(0, 18)}`
}

/** What a connection needs beyond the URL. */
export interface MqttOptions {
  clientId: string
  connectTimeoutMs: number
  /** The `[broker]` section for this location's broker, if any: its files are read at each connection. */
  login?: BrokerSettings | undefined
}

const defaultPort = (protocol: string): string => (protocol === 'mqtts:' ? '8883' : '1883')

/** The `[broker]` whose Url has the location's scheme, host and port. */
export function brokerFor(location: string, brokers: readonly BrokerSettings[]): BrokerSettings | undefined {
  const key = (u: URL): string => `${u.protocol}//${u.hostname.toLowerCase()}:${u.port || defaultPort(u.protocol)}`
  const want = key(new URL(location))
  return brokers.find((b) => key(new URL(b.url)) === want)
}

// MQTT 5 CONNACK reason codes a person can act on
const CONNACK: Record<number, string> = {
  128: 'the broker refused the connection (unspecified error)',
  133: 'the broker refused the client id',
  134: 'the broker refused the login: bad user name or password (set Username and Password in the [broker] section)',
  135: 'the broker refused the login: not authorized (a wrong user name or password, or the broker\'s access list; the login is Username and Password in the [broker] section)',
  136: 'the broker is unavailable',
  137: 'the broker is busy',
  138: 'the broker banned this client',
  156: 'the broker asks to use another server',
  157: 'the broker has moved',
}

/** Why a connection failed, in words. */
function connectError(err: Error & { code?: string | number }, broker: string): string {
  if (typeof err.code === 'number' && CONNACK[err.code]) return `${broker}: ${CONNACK[err.code]}`
  if (err.code === 'ECONNREFUSED') return `${broker}: connection refused (is the broker running?)`
  if (err.code === 'ENOTFOUND') return `${broker}: no such host`
  const code = String(err.code ?? '')
  if (/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|BAD_CERTIFICATE|UNKNOWN_CA/.test(code)) return `${broker}: the broker refused this source's TLS client certificate (${code}): set Cert and Key in the [broker] section to a certificate its CA signed`
  if (/UNABLE_TO_VERIFY|SELF_SIGNED|DEPTH_ZERO|CERT_UNTRUSTED|UNABLE_TO_GET_ISSUER/.test(code)) return `${broker}: the broker's certificate is not trusted (${code}): set CA in the [broker] section to the CA that signed it`
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `${broker}: the broker's certificate is not for this host name: ${err.message}`
  return `${broker}: ${err.message}`
}

/**
 * One broker connection for one delivery location, kept across batches: a
 * persistent session (clean start off) under a client id derived from the
 * source and the report. Publishes at QoS 1 and answers only when every
 * message is acknowledged (PUBACK), so a reading leaves the outbox only
 * after the broker has it. A failed connection is dropped; the channel's
 * backoff decides when the next one is tried.
 */
export class MqttLink {
  #client: Mqtt.MqttClient | undefined
  #connecting: Promise<Mqtt.MqttClient> | undefined
  /** The broker's URL and the topic prefix, read from the location once. */
  readonly broker: string
  readonly prefix: string
  constructor(
    readonly location: string,
    private readonly options: MqttOptions,
  ) {
    ;({ broker: this.broker, prefix: this.prefix } = parseMqttLocation(location))
  }

  /** Publishes `messages`; each carries the user properties `smap-batch` (the same on a retry) and `smap-part`, so a consumer can drop repeats. */
  async publish(messages: readonly MqttMessage[], batchId: string, timeoutMs: number, signal?: AbortSignal): Promise<DeliveryOutcome> {
    const broker = this.broker
    let client: Mqtt.MqttClient
    try {
      client = await this.#connect(signal)
    } catch (err) {
      return { kind: 'retry', error: connectError(err as Error, broker) }
    }
    if (messages.length === 0) return { kind: 'ok', status: 0 }
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no PUBACK from ${broker} within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      // in order per topic: one client publishes them in order, and the broker keeps the order of a session;
      // a few hundred at a time, so that a big first batch (every stream's object) does not stall the event loop
      let failed: Error | undefined
      const acks: Array<Promise<unknown>> = []
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i] as MqttMessage
        acks.push(client.publishAsync(m.topic, m.payload, { qos: 1, retain: m.retain, properties: { userProperties: { 'smap-batch': batchId, 'smap-part': String(i) } } }).catch((err: Error) => (failed ??= err)))
        if (i % PUBLISH_SLICE === PUBLISH_SLICE - 1) await new Promise((r) => setImmediate(r))
      }
      await Promise.race([Promise.all(acks), timeout])
      if (failed) throw failed
      return { kind: 'ok', status: 0 }
    } catch (err) {
      const code = (err as { code?: number }).code
      // a PUBACK with a reason code of 0x80 or more: the broker will not take these messages
      if (typeof code === 'number' && code >= 0x80 && client.connected) return { kind: 'reject', status: code, error: `${broker} refused the messages (reason ${code}): ${(err as Error).message}` }
      this.#drop()
      return { kind: 'retry', error: `${broker}: ${(err as Error).message}` }
    } finally {
      clearTimeout(timer)
    }
  }

  #connect(signal?: AbortSignal): Promise<Mqtt.MqttClient> {
    if (this.#client?.connected) return Promise.resolve(this.#client)
    this.#drop()
    this.#connecting ??= Promise.all([this.#clientOptions(), loadMqtt()])
      .then(([opts, mqtt]) => new Promise<Mqtt.MqttClient>((resolve, reject) => {
        const client = mqtt.connect(this.broker, opts)
        const fail = (err: Error): void => {
          cleanup()
          client.end(true)
          reject(err)
        }
        const onClose = (): void => fail(Object.assign(new Error('the broker closed the connection'), { code: 'ECONNRESET' }))
        const onAbort = (): void => fail(new Error('stopped'))
        const cleanup = (): void => {
          client.off('error', fail)
          client.off('close', onClose)
          signal?.removeEventListener('abort', onAbort)
        }
        client.once('connect', () => {
          cleanup()
          // later errors end this client; the next batch connects again
          client.on('error', () => {})
          client.once('close', () => {
            if (this.#client === client) this.#client = undefined
          })
          this.#client = client
          resolve(client)
        })
        client.once('error', fail)
        client.once('close', onClose)
        signal?.addEventListener('abort', onAbort, { once: true })
      }))
      .finally(() => {
        this.#connecting = undefined
      })
    return this.#connecting
  }

  /** The connection's options, the login's files read now (they may have been replaced since the config was loaded). */
  async #clientOptions(): Promise<Mqtt.IClientOptions> {
    const o = this.options
    const login = o.login
    const file = async (path: string | undefined, what: string): Promise<Buffer | undefined> => {
      if (path === undefined) return undefined
      try {
        return await readFile(path)
      } catch (err) {
        throw new Error(`cannot read the ${what} ${path} of [broker ${login?.name ?? ''}]: ${(err as Error).message}`)
      }
    }
    const [ca, cert, key] = await Promise.all([file(login?.ca, 'CA certificate (CA)'), file(login?.cert, 'client certificate (Cert)'), file(login?.key, 'client key (Key)')])
    return {
      clientId: o.clientId,
      clean: false,
      protocolVersion: 5,
      properties: { sessionExpiryInterval: 7 * 24 * 3600 },
      reconnectPeriod: 0,
      connectTimeout: o.connectTimeoutMs,
      ...(login?.username !== undefined ? { username: login.username } : {}),
      ...(login?.password !== undefined ? { password: login.password.reveal() } : {}),
      ...(ca ? { ca } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
    }
  }

  #drop(): void {
    const c = this.#client
    this.#client = undefined
    c?.end(true)
  }

  /** Closes the connection, waiting for nothing: what was not acknowledged is still in the outbox. */
  async close(): Promise<void> {
    const c = this.#client
    this.#client = undefined
    if (c) await c.endAsync(true).catch(() => {})
  }
}

/** The broker connections of one delivery channel, one per mqtt:// location. */
export class MqttLinks {
  readonly #links = new Map<string, MqttLink>()
  constructor(
    private readonly root: string,
    private readonly report: () => string,
    private readonly timeoutMs: number,
    private readonly brokers: readonly BrokerSettings[] = [],
  ) {}

  /** Publishes a report body (`{ path: object }`) to the broker at `location`, stream by stream. */
  publish(location: string, body: Parameters<typeof mqttMessages>[0], batchId: string, signal?: AbortSignal): Promise<DeliveryOutcome> {
    let link = this.#links.get(location)
    if (link === undefined) {
      const login = brokerFor(location, this.brokers)
      link = new MqttLink(location, { clientId: mqttClientId(this.root, this.report(), location), connectTimeoutMs: Math.min(this.timeoutMs, 10_000), login })
      this.#links.set(location, link)
    }
    return link.publish(mqttMessages(body, link.prefix, this.root), batchId, this.timeoutMs, signal)
  }

  async close(): Promise<void> {
    await Promise.all([...this.#links.values()].map((l) => l.close()))
    this.#links.clear()
  }
}
