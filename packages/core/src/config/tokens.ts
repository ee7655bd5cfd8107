import { dirname } from 'node:path'
import { SCOPES, type Scope, type TokenSettings } from '../credentials.js'
import { ConfigError } from '../errors.js'
import type { ServerSettings } from '../instance.js'
import type { IniSection } from './ini.js'
import { readTokenSecret, writeSecret } from './secrets.js'

// [token NAME] sections: a bearer token a client sends as
// `Authorization: Bearer ...`, its secret from env: or file:, and what it
// lets the client do (Scope; reports unless said).

/** What a token may do when its section has no Scope line: the lesser scope. */
export const DEFAULT_SCOPES: readonly Scope[] = ['reports']

/** Whether a section is a `[token NAME]` (or a `[token]` lacking its name). */
export function isTokenSection(name: string): boolean {
  return /^token(\s|$)/i.test(name)
}

/**
 * The tokens of every `[token NAME]` section; a second token with the same
 * name or secret is an error. Each section's problem goes to `report` (which
 * throws unless problems are being collected), and that section is left out.
 */
export function readTokens(sections: IniSection[], file: string, server: ServerSettings, report: (err: unknown) => void): TokenSettings[] {
  const tokens: TokenSettings[] = []
  const lines = new Map<TokenSettings, number>()
  for (const section of sections) {
    try {
      const token = readToken(section, file, server, tokens, lines)
      tokens.push(token)
      lines.set(token, section.line)
    } catch (err) {
      report(err)
    }
  }
  return tokens
}

function readToken(section: IniSection, file: string, server: ServerSettings, tokens: TokenSettings[], lines: Map<TokenSettings, number>): TokenSettings {
  const sectionWhere = { file, line: section.line, section: section.name }
  const name = section.name.replace(/^token/i, '').trim()
  if (!/^[\w.@-]+$/.test(name)) {
    throw new ConfigError('SMAP_CONFIG_INVALID', sectionWhere, `expected [token NAME], NAME being letters, digits, _ . @ or - (who the token is for, e.g. [token scada]), got [${section.name}]`)
  }
  if (name.toLowerCase() === 'reporttoken') throw new ConfigError('SMAP_CONFIG_INVALID', sectionWhere, 'the name ReportToken is [server] ReportToken\'s; give this token another name')
  let secret: TokenSettings['secret'] | undefined
  let scopes: readonly Scope[] = DEFAULT_SCOPES
  for (const e of section.entries) {
    const where = { ...sectionWhere, line: e.line, key: e.key }
    const lower = e.key.toLowerCase()
    if (lower === 'secret') secret = readTokenSecret(e.value, where, dirname(file), `SMAP_TOKEN_${name.toUpperCase().replace(/\W/g, '_')}`)
    else if (lower === 'scope') scopes = readScopes(e.value, where)
    else throw new ConfigError('SMAP_CONFIG_UNKNOWN_KEY', where, 'unknown key in a token section: expected Secret (env:NAME or file:PATH) and Scope (reports, actuate, or both)')
  }
  if (!secret) throw new ConfigError('SMAP_CONFIG_NO_SECRET', { ...sectionWhere, key: 'Secret' }, `missing: the token itself, e.g. "Secret = env:SMAP_TOKEN_${name.toUpperCase().replace(/\W/g, '_')}" (a secret is never written in the config)`)
  const same = tokens.find((t) => t.name.toLowerCase() === name.toLowerCase())
  if (same) throw new ConfigError('SMAP_CONFIG_DUPLICATE_SECTION', sectionWhere, `a token named ${same.name} is already on line ${lines.get(same)}; give each token its own name`)
  const token: TokenSettings = { name, secret, scopes }
  const twin = [...tokens, ...(server.reportToken ? [{ name: 'ReportToken', secret: server.reportToken }] : [])].find((t) => t.secret.reveal() === token.secret.reveal())
  // a request with it could not say which client it was
  if (twin) throw new ConfigError('SMAP_CONFIG_INVALID', { ...sectionWhere, key: 'Secret' }, `the same secret as token ${twin.name}; give every client its own token, so that the audit log can tell them apart`)
  return token
}

function readScopes(value: string, where: { file: string; line: number; section: string; key: string }): Scope[] {
  const words = value.split(/[\s,]+/).filter(Boolean).map((w) => w.toLowerCase())
  const bad = words.find((w) => !(SCOPES as readonly string[]).includes(w))
  if (words.length === 0 || bad !== undefined) {
    throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected reports (manage subscriptions), actuate (change equipment) or "actuate, reports", got "${value}"`)
  }
  return SCOPES.filter((s) => words.includes(s))
}

/** The `[token NAME]` sections `dump` writes: the secret's reference, never its value. */
export function tokenSections(settings: Readonly<ServerSettings>, dir: string): Array<{ name: string; entries: Array<[string, string]> }> {
  return (settings.tokens ?? []).map((t) => {
    const entries: Array<[string, string]> = [['Secret', writeSecret(t.secret, dir)]]
    if (t.scopes.join() !== DEFAULT_SCOPES.join()) entries.push(['Scope', t.scopes.join(', ')])
    return { name: `token ${t.name}`, entries }
  })
}
