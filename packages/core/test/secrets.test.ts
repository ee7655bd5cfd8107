import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, createApp, dumpText, loadText, type Logger } from '@smap/core'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const SECRET = 'Zq8-secret-value-never-shown-4711'
const ini = (lines: string[]): string => `${lines.join('\n')}\n`
const withRoot = (lines: string[]): string => ini([...lines, '', '[/]', `uuid = ${ROOT}`])

const logged: string[] = []
const logger: Logger = {
  info: (m) => logged.push(m),
  warn: (m) => logged.push(m),
  error: (m, err) => logged.push(`${m} ${String(err)}`),
}

async function problem(text: string, file: string): Promise<string> {
  try {
    await loadText(text, file, { logger })
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return (err as ConfigError).message
  }
  throw new Error('expected a ConfigError')
}

describe('secrets in a config', () => {
  let dir: string
  let conf: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-secrets-'))
    conf = join(dir, 'conf.ini')
    await mkdir(join(dir, 'secrets'))
    await writeFile(join(dir, 'secrets', 'report-token'), `${SECRET}\n`)
    process.env.SMAP_TEST_SECRET = SECRET
    process.env.SMAP_TEST_SCADA = 'scada-token-0123456789'
  })
  afterAll(async () => {
    delete process.env.SMAP_TEST_SECRET
    delete process.env.SMAP_TEST_SCADA
    await rm(dir, { recursive: true, force: true })
  })

  it('reads ReportToken from an environment variable', async () => {
    const inst = await loadText(withRoot(['[server]', 'ReportToken = env:SMAP_TEST_SECRET']), conf)
    expect(inst.server.reportToken?.ref).toBe('env:SMAP_TEST_SECRET')
    expect(inst.server.reportToken?.reveal()).toBe(SECRET)
  })

  it("reads ReportToken from a file relative to the config's folder, without its trailing newline", async () => {
    const inst = await loadText(withRoot(['[server]', 'ReportToken = file:secrets/report-token']), conf)
    expect(inst.server.reportToken?.reveal()).toBe(SECRET)
    expect(inst.server.reportToken?.ref).toBe(`file:${join(dir, 'secrets', 'report-token')}`)
  })

  it('refuses a secret written in clear, saying where to put it instead, without repeating it', async () => {
    const message = await problem(withRoot(['[server]', `ReportToken = ${SECRET}`]), 'conf.ini')
    expect(message).toBe(
      'conf.ini:2 [server] ReportToken: a secret is never written in the config itself: put it in an environment variable and write "ReportToken = env:SMAP_REPORT_TOKEN", or in a file only smap\'s user can read and write "ReportToken = file:/etc/smap/report-token"',
    )
    expect(message).not.toContain(SECRET)
    expect(await problem(withRoot(['[token scada]', `Secret = ${SECRET}`]), 'conf.ini')).toBe(
      'conf.ini:2 [token scada] Secret: a secret is never written in the config itself: put it in an environment variable and write "Secret = env:SMAP_TOKEN_SCADA", or in a file only smap\'s user can read and write "Secret = file:/etc/smap/token-scada"',
    )
  })

  it('names the variable that is not set and the file that cannot be read', async () => {
    delete process.env.SMAP_TEST_UNSET
    expect(await problem(withRoot(['[server]', 'ReportToken = env:SMAP_TEST_UNSET']), 'conf.ini')).toBe(
      'conf.ini:2 [server] ReportToken: environment variable SMAP_TEST_UNSET is not set; set it where smap runs (e.g. Environment= in its systemd unit), or keep the secret in a file and write "ReportToken = file:PATH"',
    )
    expect(await problem(withRoot(['[server]', 'ReportToken = file:secrets/missing']), conf)).toBe(
      `${conf}:2 [server] ReportToken: cannot read the secret file ${join(dir, 'secrets', 'missing')}: no such file`,
    )
    expect(await problem(withRoot(['[server]', 'ReportToken = env:not a name']), 'conf.ini')).toBe(
      'conf.ini:2 [server] ReportToken: expected env: and the name of an environment variable (letters, digits, _), such as env:SMAP_REPORT_TOKEN',
    )
  })

  it('refuses a token too short or with spaces, naming its source and not its value', async () => {
    process.env.SMAP_TEST_SHORT = 'tiny secret'
    const message = await problem(withRoot(['[server]', 'ReportToken = env:SMAP_TEST_SHORT']), 'conf.ini')
    expect(message).toBe(
      'conf.ini:2 [server] ReportToken: the token in env:SMAP_TEST_SHORT must be at least 16 characters, letters, digits and ASCII punctuation without spaces (`smap uuid` makes a good one)',
    )
    delete process.env.SMAP_TEST_SHORT
  })

  it('keeps the value out of JSON, inspect, /status and the log', async () => {
    const text = withRoot(['[server]', 'ReportToken = env:SMAP_TEST_SECRET', '', '[token scada]', 'Secret = env:SMAP_TEST_SCADA', 'Scope = actuate'])
    const inst = await loadText(text, conf, { logger })
    expect(JSON.stringify(inst.server)).toBe('{"reportToken":"env:SMAP_TEST_SECRET","tokens":[{"name":"scada","secret":"env:SMAP_TEST_SCADA","scopes":["actuate"]}]}')
    expect(inspect(inst.server, { depth: 5 })).not.toContain(SECRET)
    expect(`${String(inst.server.reportToken)}`).toBe('env:SMAP_TEST_SECRET')
    const status = await createApp(inst).fetch(new Request('http://source/status'))
    const body = await status.text()
    expect(status.status).toBe(200)
    expect(body).not.toContain(SECRET)
    expect(body).not.toContain('scada-token')
    expect(logged.join('\n')).not.toContain(SECRET)
  })

  it('dumps the references, never the values, and loads them back the same', async () => {
    const text = withRoot([
      '[server]',
      'ReportToken = file:secrets/report-token',
      '',
      '[token scada]',
      'Secret = env:SMAP_TEST_SCADA',
      'Scope = actuate, reports',
      '',
      '[token grafana]',
      `Secret = file:${join(dir, 'secrets', 'report-token')}-grafana`,
    ])
    await writeFile(join(dir, 'secrets', 'report-token-grafana'), 'grafana-token-0123456789\n')
    const inst = await loadText(text, conf)
    const dumped = dumpText(inst, dir)
    expect(dumped).toBe(
      ini([
        '[server]',
        'ReportToken = file:secrets/report-token',
        '',
        '[token scada]',
        'Secret = env:SMAP_TEST_SCADA',
        'Scope = reports, actuate',
        '',
        '[token grafana]',
        'Secret = file:secrets/report-token-grafana',
        '',
        '[/]',
        'type = Collection',
        `uuid = ${ROOT}`,
      ]),
    )
    expect(dumped).not.toContain(SECRET)
    // written elsewhere, a file inside the config's folder is still found
    const outside = await mkdtemp(join(tmpdir(), 'smap-dump-'))
    try {
      expect(dumpText(inst, outside)).toContain(`ReportToken = file:${join(dir, 'secrets', 'report-token')}`)
    } finally {
      await rm(outside, { recursive: true })
    }
    const again = await loadText(dumped, conf)
    expect(JSON.stringify(again.server)).toBe(JSON.stringify(inst.server))
    expect(again.server.tokens?.map((t) => [t.name, t.scopes, t.secret.reveal()])).toEqual([
      ['scada', ['reports', 'actuate'], 'scada-token-0123456789'],
      ['grafana', ['reports'], 'grafana-token-0123456789'],
    ])
  })
})

describe('[token NAME] sections', () => {
  beforeAll(() => {
    process.env.SMAP_TEST_A = 'token-a-0123456789abcdef'
    process.env.SMAP_TEST_B = 'token-b-0123456789abcdef'
  })
  afterAll(() => {
    delete process.env.SMAP_TEST_A
    delete process.env.SMAP_TEST_B
  })

  it('gives a token scope reports unless told, and reads actuate, reports in any order and case', async () => {
    const inst = await loadText(withRoot(['[token a]', 'Secret = env:SMAP_TEST_A', '', '[token b]', 'secret = env:SMAP_TEST_B', 'SCOPE = Actuate,Reports']), 'conf.ini')
    expect(inst.server.tokens?.map((t) => [t.name, t.scopes])).toEqual([
      ['a', ['reports']],
      ['b', ['reports', 'actuate']],
    ])
  })

  it('refuses unknown keys, a missing secret, a bad scope, a nameless section, and a secret two tokens share', async () => {
    expect(await problem(withRoot(['[token a]', 'Secret = env:SMAP_TEST_A', 'Expires = never']), 'conf.ini')).toBe(
      'conf.ini:3 [token a] Expires: unknown key in a token section: expected Secret (env:NAME or file:PATH) and Scope (reports, actuate, or both)',
    )
    expect(await problem(withRoot(['[token a]', 'Scope = actuate']), 'conf.ini')).toBe(
      'conf.ini:1 [token a] Secret: missing: the token itself, e.g. "Secret = env:SMAP_TOKEN_A" (a secret is never written in the config)',
    )
    expect(await problem(withRoot(['[token a]', 'Secret = env:SMAP_TEST_A', 'Scope = admin']), 'conf.ini')).toBe(
      'conf.ini:3 [token a] Scope: expected reports (manage subscriptions), actuate (change equipment) or "actuate, reports", got "admin"',
    )
    expect(await problem(withRoot(['[token]', 'Secret = env:SMAP_TEST_A']), 'conf.ini')).toBe(
      'conf.ini:1 [token]: expected [token NAME], NAME being letters, digits, _ . @ or - (who the token is for, e.g. [token scada]), got [token]',
    )
    expect(await problem(withRoot(['[server]', 'ReportToken = env:SMAP_TEST_A', '', '[token a]', 'Secret = env:SMAP_TEST_A']), 'conf.ini')).toBe(
      'conf.ini:4 [token a] Secret: the same secret as token ReportToken; give every client its own token, so that the audit log can tell them apart',
    )
    expect(await problem(withRoot(['[token ReportToken]', 'Secret = env:SMAP_TEST_A']), 'conf.ini')).toBe(
      "conf.ini:1 [token ReportToken]: the name ReportToken is [server] ReportToken's; give this token another name",
    )
  })

  it('collects token problems with the rest when validating', async () => {
    const errors: ConfigError[] = []
    await loadText(withRoot(['[token a]', 'Scope = actuate', '', '[token b]', 'Secret = in-clear-0123456789abcdef']), 'conf.ini', { errors })
    expect(errors.map((e) => e.code)).toEqual(['SMAP_CONFIG_NO_SECRET', 'SMAP_CONFIG_CLEAR_SECRET'])
  })
})
