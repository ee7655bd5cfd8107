import { SmapError } from '@smap/core'
import { defineCommand } from 'citty'
import { UsageError } from './commands.js'
import { describeFetchError } from './tree.js'

const TIMEOUT_MS = 30_000

export const actuateCommand = defineCommand({
  meta: { name: 'actuate', description: 'Write a state to an actuator point of a running source (PUT /data/PATH?state=STATE)' },
  args: {
    url: { type: 'positional', description: 'the source, e.g. http://127.0.0.1:8080', required: true },
    path: { type: 'positional', description: 'the point, e.g. /thermostat/setpoint', required: true },
    state: { type: 'positional', description: 'the state to write, e.g. 21.5, on, cool', required: true },
    token: { type: 'string', description: 'a bearer token with Scope = actuate (default: $SMAP_TOKEN; not needed from the source\'s own machine)' },
  },
  async run({ args }) {
    let base: URL
    try {
      base = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(args.url) ? args.url : `http://${args.url}`)
    } catch {
      throw new UsageError(`"${args.url}" is not a URL; expected a source like http://127.0.0.1:8080`)
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new UsageError(`"${args.url}" must be an http:// or https:// URL`)
    const path = `/${args.path.replace(/^\/+/, '').replace(/^data\//, '')}`.replace(/\/+$/, '') || '/'
    const target = new URL(`${base.origin}${base.pathname.replace(/\/+$/, '')}/data${path}`)
    target.searchParams.set('state', args.state)
    const token = args.token ?? process.env.SMAP_TOKEN
    let res: Response
    try {
      res = await fetch(target, { method: 'PUT', headers: { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) })
    } catch (err) {
      throw new SmapError('SMAP_ACTUATE_UNREACHABLE', `cannot reach ${base.origin}: ${describeFetchError(err, TIMEOUT_MS)}`, { cause: err })
    }
    const text = await res.text()
    let body: { error?: unknown; State?: unknown; Properties?: { UnitofMeasure?: unknown } } = {}
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      throw new SmapError('SMAP_ACTUATE_HTTP', `${target.origin}${target.pathname} answered ${res.status} with something that is not JSON; is it an sMAP source?`)
    }
    if (!res.ok) {
      const retry = res.headers.get('retry-after')
      const hint = res.status === 403 && !token ? ' (from another machine, give --token or set SMAP_TOKEN)' : ''
      throw new SmapError('SMAP_ACTUATE_HTTP', `${path}: ${res.status} ${typeof body.error === 'string' ? body.error : res.statusText}${retry ? ` (retry after ${retry} s)` : ''}${hint}`)
    }
    const unit = typeof body.Properties?.UnitofMeasure === 'string' ? ` ${body.Properties.UnitofMeasure}` : ''
    process.stdout.write(`${path} is now ${String(body.State)}${unit}\n`)
  },
})
