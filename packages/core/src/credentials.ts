import { inspect } from 'node:util'

/** What a request asks to do beyond reading: manage subscriptions, or change equipment. */
export type Scope = 'reports' | 'actuate'

/** Every scope, in the order messages list them. */
export const SCOPES: readonly Scope[] = ['reports', 'actuate']

/**
 * A secret read from where a config points (`env:NAME` or `file:/path`). It
 * shows only that reference: in JSON, in strings, in `util.inspect` and in
 * test diffs; `reveal()` is the one way to the value, for comparing.
 */
export class Secret {
  /** Where the value came from, as `dump` writes it back: `env:NAME`, or `file:` and an absolute path. */
  readonly ref: string
  readonly #value: string

  constructor(ref: string, value: string) {
    this.ref = ref
    this.#value = value
  }

  /** The value itself; compare it with `sameSecret`, never log it. */
  reveal(): string {
    return this.#value
  }

  toJSON(): string {
    return this.ref
  }

  toString(): string {
    return this.ref
  }

  [inspect.custom](): string {
    return `Secret(${this.ref})`
  }
}

/** How to log in to an MQTT broker, from a `[broker NAME]` section: used by every report delivering to its Url. */
export interface BrokerSettings {
  name: string
  /** `mqtt://host:port` or `mqtts://host:port`: a location on the same scheme, host and port uses these. */
  url: string
  username?: string
  password?: Secret
  /** PEM files (absolute paths): the CA that signed the broker's certificate, and this source's client certificate and key. */
  ca?: string
  cert?: string
  key?: string
}

/** A bearer token from a `[token NAME]` section (or `[server] ReportToken`, named "ReportToken"). */
export interface TokenSettings {
  /** The name a request made with it is audited under. */
  name: string
  secret: Secret
  /** What it lets a client do. */
  scopes: readonly Scope[]
}
