import type { DriverStatus } from './drivers.js'

export interface Hello {
  time: number
  root: string
  resources: string[]
  tickMs: number
  limitBytes: number
  drivers: Record<string, DriverStatus>
}

export interface LiveHooks {
  hello(hello: Hello): void
  readings(batch: Record<string, { uuid: string; Readings: Array<[number, unknown]> }>): void
  driver(path: string, status: DriverStatus): void
  /** How the stream is: live, connecting, or closed with a message. */
  state(state: 'live' | 'connecting' | 'dropped' | 'down', message: string): void
}

/**
 * The page's one `GET /events` stream, following what is on screen: when
 * that changes, the stream is opened again for the new resources (a quarter
 * second later, so opening ten collections is one reconnect).
 */
export class Live {
  #es: EventSource | undefined
  #want: string[] = ['/+']
  #key = ''
  #timer: ReturnType<typeof setTimeout> | undefined
  constructor(private readonly hooks: LiveHooks) {}

  follow(resources: string[]): void {
    const key = resources.join('\n')
    this.#want = resources
    if (key === this.#key && this.#es !== undefined) return
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.#connect(), this.#es === undefined ? 0 : 250)
  }

  #connect(): void {
    this.#es?.close()
    this.#key = this.#want.join('\n')
    const url = `/events?${this.#want.map((r) => `resource=${encodeURIComponent(r)}`).join('&')}`
    const es = new EventSource(url)
    this.#es = es
    this.hooks.state('connecting', 'connecting to the live stream…')
    es.addEventListener('hello', (e) => {
      this.hooks.hello(JSON.parse((e as MessageEvent<string>).data) as Hello)
      this.hooks.state('live', 'live')
    })
    es.addEventListener('readings', (e) => this.hooks.readings(JSON.parse((e as MessageEvent<string>).data)))
    es.addEventListener('drivers', (e) => {
      const { path, ...status } = JSON.parse((e as MessageEvent<string>).data) as DriverStatus & { path: string }
      this.hooks.driver(path, status)
    })
    es.addEventListener('dropped', (e) => {
      const { message } = JSON.parse((e as MessageEvent<string>).data) as { message: string }
      es.close()
      this.hooks.state('dropped', `${message} — reconnecting in 3 s`)
      this.#retry(es, 3000)
    })
    es.addEventListener('error', () => {
      if (this.#es !== es) return
      // the browser retries by itself unless the server refused (503 when it serves too many streams)
      if (es.readyState === EventSource.CLOSED) {
        this.hooks.state('down', 'the live stream was refused or lost — trying again in 5 s')
        this.#retry(es, 5000)
      } else this.hooks.state('down', 'the source does not answer — reconnecting…')
    })
  }

  #retry(es: EventSource, ms: number): void {
    clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      if (this.#es === es) this.#connect()
    }, ms)
  }
}
