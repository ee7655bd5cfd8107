import { dirname, isAbsolute, relative, resolve } from 'node:path'
import type { BrokerSettings } from '../credentials.js'
import { ConfigError } from '../errors.js'
import type { IniSection } from './ini.js'
import { readSecret, writeSecret } from './secrets.js'

// [broker NAME] sections: how to log in to an MQTT broker that reports deliver to
// (a location mqtt://HOST:PORT/PREFIX uses the section whose Url has its scheme,
// host and port). The password comes from env: or file:, never the config itself.

const KEYS = 'Url (mqtt://host:port or mqtts://host:port), Username, Password (env:NAME or file:PATH), CA, Cert and Key (PEM files)'

/** Whether a section is a `[broker NAME]` (or a `[broker]` lacking its name). */
export function isBrokerSection(name: string): boolean {
  return /^broker(\s|$)/i.test(name)
}

/** The brokers of every `[broker NAME]` section; each section's problem goes to `report`, and that section is left out. */
export function readBrokers(sections: IniSection[], file: string, report: (err: unknown) => void): BrokerSettings[] {
  const out: BrokerSettings[] = []
  for (const section of sections) {
    try {
      out.push(readBroker(section, file, out))
    } catch (err) {
      report(err)
    }
  }
  return out
}

function readBroker(section: IniSection, file: string, before: BrokerSettings[]): BrokerSettings {
  const sectionWhere = { file, line: section.line, section: section.name }
  const name = section.name.replace(/^broker/i, '').trim()
  if (!/^[\w.@-]+$/.test(name)) throw new ConfigError('SMAP_CONFIG_INVALID', sectionWhere, `expected [broker NAME], NAME being letters, digits, _ . @ or - (e.g. [broker site]), got [${section.name}]`)
  const dir = dirname(file)
  const broker: BrokerSettings = { name, url: '' }
  for (const e of section.entries) {
    const where = { ...sectionWhere, line: e.line, key: e.key }
    const lower = e.key.toLowerCase()
    if (lower === 'url') {
      let url: URL | undefined
      try {
        url = new URL(e.value)
      } catch {
        url = undefined
      }
      if (!url || (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') || url.username || url.password || (url.pathname !== '' && url.pathname !== '/')) {
        throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected the broker's mqtt://host:port or mqtts://host:port (no path, no user or password: those are Username and Password), got "${e.value}"`)
      }
      broker.url = `${url.protocol}//${url.host}`
    } else if (lower === 'username') broker.username = e.value
    else if (lower === 'password') broker.password = readSecret(e.value, where, dir, `SMAP_BROKER_${name.toUpperCase().replace(/\W/g, '_')}_PASSWORD`)
    else if (lower === 'ca' || lower === 'cert' || lower === 'key') broker[lower] = resolve(dir, e.value)
    else throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, `unknown key in a broker section: expected ${KEYS}`)
  }
  if (broker.url === '') throw new ConfigError('SMAP_CONFIG_INVALID', { ...sectionWhere, key: 'Url' }, 'missing: the broker this login is for, e.g. "Url = mqtts://broker.example.com:8883"')
  if ((broker.cert === undefined) !== (broker.key === undefined)) throw new ConfigError('SMAP_CONFIG_INVALID', sectionWhere, 'a client certificate needs both Cert and Key')
  const same = before.find((b) => b.name.toLowerCase() === name.toLowerCase() || b.url === broker.url)
  if (same) throw new ConfigError('SMAP_CONFIG_DUPLICATE_SECTION', sectionWhere, `[broker ${same.name}] is already for ${same.url}; one section per broker`)
  return broker
}

/** The `[broker NAME]` sections `dump` writes: the password's reference, never its value. */
export function brokerSections(brokers: readonly BrokerSettings[] = [], dir: string): Array<{ name: string; entries: Array<[string, string]> }> {
  const path = (p: string): string => (isAbsolute(p) && !relative(dir, p).startsWith('..') ? relative(dir, p) : p)
  return brokers.map((b) => {
    const entries: Array<[string, string]> = [['Url', b.url]]
    if (b.username !== undefined) entries.push(['Username', b.username])
    if (b.password !== undefined) entries.push(['Password', writeSecret(b.password, dir)])
    for (const k of ['ca', 'cert', 'key'] as const) if (b[k] !== undefined) entries.push([k === 'ca' ? 'CA' : k === 'cert' ? 'Cert' : 'Key', path(b[k] as string)])
    return { name: `broker ${b.name}`, entries }
  })
}
