import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { Agent, type Dispatcher } from 'undici'
import { isLinkLocal } from '../subscription.js'

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void
/** `dns.lookup`'s shape (with `all`), so a test can name the addresses a host resolves to. */
export type Resolver = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

const systemResolver: Resolver = (hostname, options, callback) => dnsLookup(hostname, options, callback)

/**
 * A lookup for outgoing connections that refuses link-local and cloud
 * metadata addresses by what a name resolves to, so that no host name
 * (`metadata.google.internal`, `169.254.169.254.nip.io`) reaches them: the
 * check is on the address actually connected to, not on the URL.
 */
export function guardedLookup(resolve: Resolver = systemResolver) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, [])
      const bad = addresses.find((a) => isLinkLocal(a.address))
      if (bad) {
        const refused: NodeJS.ErrnoException = new Error(`${hostname} resolves to ${bad.address}, a link-local address (where cloud metadata services answer); set AllowLinkLocal = true in [server] if you mean it`)
        refused.code = 'SMAP_LINK_LOCAL'
        return callback(refused, [])
      }
      if (options.all) return callback(null, addresses)
      const first = addresses[0]
      if (!first) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), [])
      callback(null, first.address, first.family)
    })
  }
}

/** The connection pool deliveries go through: guarded unless link-local targets are allowed. */
export function createDeliveryAgent(options: { allowLinkLocal?: boolean; resolve?: Resolver } = {}): Dispatcher {
  return new Agent(options.allowLinkLocal ? {} : { connect: { lookup: guardedLookup(options.resolve) } })
}
