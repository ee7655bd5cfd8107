import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { baseDriver, ConfigError, dump, dumpText, load, loadText, SmapError, SmapInstance } from '@smap/core'
import type { DriverDefinition } from '@smap/sdk'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const ini = (lines: string[]): string => `${lines.join('\n')}\n`

async function configError(text: string): Promise<ConfigError> {
  try {
    await loadText(text, 'conf.ini')
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError)
    return err as ConfigError
  }
  throw new Error('expected a ConfigError')
}

async function errorMessage(text: string): Promise<string> {
  return (await configError(text)).message
}

describe('load', () => {
  let dir: string
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-config-'))
  })
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('dumps the tutorial source exactly as the tutorial lists conf.ini', async () => {
    const inst = new SmapInstance(ROOT)
    inst.addTimeseries('/sensor0', 'sensor0', 'V')
    await dump(inst, join(dir, 'conf.ini'))
    expect(await readFile(join(dir, 'conf.ini'), 'utf8')).toBe(
      ini(['[/]', 'type = Collection', `uuid = ${ROOT}`, '', '[/sensor0]', 'type = Timeseries', 'key = sensor0', 'Properties/UnitofMeasure = V']),
    )
  })

  it('loads the tutorial config with a collection and its metadata', async () => {
    const file = join(dir, 'conf.ini')
    await writeFile(
      file,
      ini([
        '[/]',
        'type = Collection',
        `uuid = ${ROOT}`,
        '',
        '[/instrument0]',
        'type = Collection',
        'Metadata/Instrument/Manufacturer = sMAP Implementer Forum',
        '    ',
        '[/instrument0/sensor0]',
        'type = Timeseries',
        'key = sensor0',
        'Properties/UnitofMeasure = V',
      ]),
    )
    const inst = await load(file)
    expect(inst.root).toBe(ROOT)
    expect(inst.getCollection('/instrument0')?.toJSON()).toEqual({
      Contents: ['sensor0'],
      Metadata: { Instrument: { Manufacturer: 'sMAP Implementer Forum' } },
    })
    expect(inst.getTimeseries('/instrument0/sensor0')?.toJSON()).toEqual({
      uuid: 'b37e5c5f-e9b0-59a6-8275-08729beeff46',
      Properties: { UnitofMeasure: 'V', ReadingType: 'long', Timezone: 'America/Los_Angeles' },
      Readings: [],
    })
    expect(inst.configFile).toBe(file)
  })

  it('reads [server], root properties and every timeseries key', async () => {
    const inst = await loadText(
      ini([
        '# a comment',
        '[server]',
        'Port = 9000',
        'DataDir = ./data',
        '',
        '[/]',
        `uuid = ${ROOT.toUpperCase()}`,
        'Properties/Timezone = UTC',
        'Metadata/SourceName = Demo ; inline comment',
        'Description = My source',
        '',
        '[/t]',
        'uuid = 11111111-2222-4333-8444-555555555555',
        'Properties/UnitofMeasure: C',
        'Properties/ReadingType = double',
        'Properties/Timezone = Europe/Paris',
        'BufferSize = 5',
        'Description = first line',
        '  second line',
      ]),
      '/site/conf.ini',
    )
    expect(inst.server).toEqual({ port: 9000, dataDir: '/site/data' })
    expect(inst.root).toBe(ROOT)
    expect(inst.getCollection('/')?.toJSON()).toEqual({ Contents: ['t'], Description: 'My source', Metadata: { SourceName: 'Demo' } })
    expect(inst.getTimeseries('/t')?.toJSON()).toEqual({
      uuid: '11111111-2222-4333-8444-555555555555',
      Description: 'first line\nsecond line',
      Properties: { UnitofMeasure: 'C', ReadingType: 'double', Timezone: 'Europe/Paris' },
      Readings: [],
    })
    expect(inst.getTimeseries('/t')?.bufferSize).toBe(5)
  })

  it('writes every [server] key back as it read it', async () => {
    process.env.SMAP_TEST_REPORT_TOKEN = '0123456789abcdef0123'
    const text = ini([
      '[server]',
      'Port = 9000',
      'Host = 0.0.0.0',
      'DataDir = data',
      'ReportToken = env:SMAP_TEST_REPORT_TOKEN',
      'ReportHosts = archiver.example, 10.0.0.5',
      'AllowLinkLocal = true',
      'Fsync = false',
      'FlushInterval = 250',
      'ReportTimeout = 5000',
      'RetryBackoff = 100',
      'MaxRetryBackoff = 30000',
      'MaxSubscriptions = 20',
      'MaxConnections = 64',
      'MaxOutboxBytes = 512MB',
      '',
      '[/]',
      'type = Collection',
      `uuid = ${ROOT}`,
    ])
    const inst = await loadText(text, '/site/conf.ini')
    expect(inst.server).toMatchObject({ dataDir: '/site/data', reportHosts: ['archiver.example', '10.0.0.5'], allowLinkLocal: true, flushInterval: 250, maxOutboxBytes: 512 * 1024 * 1024 })
    expect(dumpText(inst, '/site')).toBe(text)
  })

  it('says so when the file cannot be read', async () => {
    await expect(load(join(dir, 'missing.ini'))).rejects.toThrow(`cannot read config file ${join(dir, 'missing.ini')}: no such file`)
  })

  describe('errors name file, line, section and key and say what was expected', () => {
    it('no [/] section', async () => {
      expect(await errorMessage(ini(['[/a]', 'Properties/UnitofMeasure = V']))).toMatch(/^conf\.ini: no \[\/\] section: every config needs one giving the source its uuid/)
    })

    it('no uuid in [/]', async () => {
      const err = await configError(ini(['', '[/]', 'type = Collection']))
      expect(err.message).toBe(
        'conf.ini:2 [/] uuid: missing: the root needs the source\'s uuid, e.g. "uuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92" (run `smap uuid` for a new one)',
      )
      expect([err.file, err.line, err.section, err.key, err.code]).toEqual(['conf.ini', 2, '/', 'uuid', 'SMAP_CONFIG_NO_UUID'])
    })

    it('a bad uuid', async () => {
      expect(await errorMessage(ini(['[/]', 'uuid = 1234']))).toBe(
        'conf.ini:2 [/] uuid: expected a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got "1234" (run `smap uuid` for a new one)',
      )
    })

    it('a timeseries without Properties/UnitofMeasure', async () => {
      expect(await errorMessage(ini(['[/]', `uuid = ${ROOT}`, '[/s]', 'type = Timeseries', 'key = s']))).toBe(
        'conf.ini:3 [/s] Properties/UnitofMeasure: missing: a Timeseries needs its unit, e.g. "Properties/UnitofMeasure = V"',
      )
    })

    it('an unknown type', async () => {
      expect(await errorMessage(ini(['[/]', `uuid = ${ROOT}`, '[/s]', 'type = Sensor']))).toBe(
        'conf.ini:4 [/s] type: unknown type "Sensor": expected Collection, Timeseries, or a driver package name',
      )
    })

    it('a duplicate key', async () => {
      expect(
        await errorMessage(ini(['[/]', `uuid = ${ROOT}`, '[/a]', 'key = k', 'Properties/UnitofMeasure = V', '[/b]', 'key = k', 'Properties/UnitofMeasure = V'])),
      ).toBe('conf.ini:6 [/b]: timeseries /b: key "k" is already used by /a; keys must be unique in a source')
    })

    it('a key set twice in one section, and a section given twice', async () => {
      expect(await errorMessage(ini(['[/]', `uuid = ${ROOT}`, `uuid = ${ROOT}`]))).toBe('conf.ini:3 [/] uuid: set twice in this section (first on line 2); keep one')
      expect(await errorMessage(ini(['[/]', `uuid = ${ROOT}`, '[/]']))).toBe('conf.ini:3 [/]: section [/] appears twice (first on line 1); merge them into one')
    })

    it('a line that is not a section or a key', async () => {
      expect(await errorMessage(ini(['[/]', `uuid = ${ROOT}`, 'just words']))).toBe(
        'conf.ini:3 [/]: cannot read "just words": expected a [section] header or a "key = value" line',
      )
      expect(await errorMessage(ini(['uuid = x']))).toBe('conf.ini:1 uuid: "uuid" comes before any [section]; put it under a section such as [/]')
    })

    it('unknown keys and wrong values', async () => {
      const root = ['[/]', `uuid = ${ROOT}`]
      expect(await errorMessage(ini([...root, '[/s]', 'Properties/UnitofMeasure = V', 'Unit = V']))).toMatch(
        /^conf\.ini:5 \[\/s\] Unit: unknown key for a Timeseries: expected type, key, uuid/,
      )
      expect(await errorMessage(ini([...root, '[/c]', 'type = Collection', 'key = c']))).toBe(
        'conf.ini:5 [/c] key: unknown key for a Collection: expected type, Description or Metadata/...',
      )
      expect(await errorMessage(ini([...root, '[/s]', 'Properties/UnitofMeasure = V', 'Properties/ReadingType = int']))).toBe(
        'conf.ini:5 [/s] Properties/ReadingType: expected long, double or string, got "int"',
      )
      expect(await errorMessage(ini([...root, '[/s]', 'Properties/UnitofMeasure = V', 'BufferSize = many']))).toBe(
        'conf.ini:5 [/s] BufferSize: expected a whole number from 1 to 100000, got "many"',
      )
      expect(await errorMessage(ini([...root, '[/s]', 'Properties/UnitofMeasure = V', 'Properties/Timezone = Pacific']))).toBe(
        'conf.ini:5 [/s] Properties/Timezone: unknown time zone "Pacific": use an IANA name such as America/Los_Angeles or UTC',
      )
      expect(await errorMessage(ini(['[server]', 'Port = http', ...root]))).toBe('conf.ini:2 [server] Port: expected a port number from 0 to 65535, got "http"')
      expect(await errorMessage(ini(['[server]', 'Threads = 4', ...root]))).toBe('conf.ini:2 [server] Threads: unknown key in [server]: expected one of Port, Host, DataDir, ReportToken, ReportClients, ReportHosts, AllowLinkLocal, Fsync, FlushInterval, ReportTimeout, RetryBackoff, MaxRetryBackoff, MaxSubscriptions, MaxConnections, MaxOutboxBytes, JobGrace, Http, TlsPort, TlsKey, TlsCert, TlsCA, TlsVerifyClients (or the original sMAP\'s SslPort, SslKey, SslCert, SslCA, SslVerify)')
      for (const size of ['lots', '100KB', '-5MB', '1.5 parsecs']) {
        expect(await errorMessage(ini(['[server]', `MaxOutboxBytes = ${size}`, ...root]))).toBe(
          `conf.ini:2 [server] MaxOutboxBytes: expected a size of at least 1MB, such as 512MB or 2GB (1KB = 1024 bytes), got "${size}"`,
        )
      }
      expect((await loadText(ini(['[server]', 'MaxOutboxBytes = 2 GiB', ...root]), '/site/conf.ini')).server.maxOutboxBytes).toBe(2 * 1024 ** 3)
      expect(await errorMessage(ini([...root, '[/a b]', 'Properties/UnitofMeasure = V']))).toMatch(/^conf\.ini:3 \[\/a b\]: invalid path "\/a b"/)
    })

    it('metadata names that would reach Object.prototype', async () => {
      expect(await errorMessage(ini(['[/]', `uuid = ${ROOT}`, 'Metadata/__proto__/polluted = yes']))).toBe(
        'conf.ini:3 [/] Metadata/__proto__/polluted: metadata __proto__/polluted for /: "__proto__" cannot be a metadata name',
      )
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    })

    it('sections this version cannot run yet are errors, not silently skipped', async () => {
      const root = ['[/]', `uuid = ${ROOT}`]
      expect(await errorMessage(ini([...root, '[weird]']))).toBe(
        'conf.ini:3 [weird]: unknown section: expected [/PATH] for a resource, [server] for the server, [token NAME] for a client\'s bearer token, [broker NAME] for an MQTT broker\'s login, or [report NAME] for a subscription',
      )
    })
  })
})

describe('settings', () => {
  it('puts outboxes and subscriptions in the data dir given to load, over the config, before anything is built', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smap-datadir-'))
    try {
      const conf = join(dir, 'conf.ini')
      await writeFile(conf, `[server]\nDataDir = ./fromconfig\n\n[/]\nuuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92\n[/s]\nProperties/UnitofMeasure = V\n\n[report 0]\nReportDeliveryLocation = http://127.0.0.1:9/add\nReportResource = /+\n`)
      const inst = await load(conf, { server: { dataDir: join(dir, 'given') } })
      expect(inst.dataDir).toBe(join(dir, 'given'))
      await inst.start()
      inst.add('/s', 1)
      await inst.flush()
      await inst.stop()
      expect(await readdir(join(dir, 'given', 'reports'))).toHaveLength(1)
      expect(existsSync(join(dir, 'fromconfig'))).toBe(false)
      expect(existsSync(join(dir, '.smap'))).toBe(false)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('are fixed once the instance is made', async () => {
    const inst = await loadText('[server]\nPort = 8081\n[/]\nuuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92\n', 'conf.ini', { server: { host: '::1' } })
    expect(inst.server).toEqual({ port: 8081, host: '::1' })
    expect(() => Object.assign(inst.server, { dataDir: '/tmp/x' })).toThrow(TypeError)
  })
})

describe('a resolveDriver given to load', () => {
  it('finds the drivers sections name, with the ref as written, and errors at the type line', async () => {
    const asked: Array<[string, string]> = []
    const inst = await loadText(`[/]\nuuid = ${ROOT}\n\n[/m]\ntype = smap-driver-mine#Meter\nRate = 2\n`, '/site/conf.ini', {
      resolveDriver: async (ref, fromDir) => {
        asked.push([ref, fromDir])
        return { ref, definition: baseDriver as unknown as DriverDefinition }
      },
    })
    expect(asked).toEqual([['smap-driver-mine#Meter', '/site']])
    expect(inst.drivers.get('/m')?.source.ref).toBe('smap-driver-mine#Meter')
    const failing = loadText(`[/]\nuuid = ${ROOT}\n\n[/m]\ntype = smap-driver-mine\n`, '/site/conf.ini', {
      resolveDriver: () => Promise.reject(new SmapError('SMAP_DRIVER_NOT_FOUND', 'not here')),
    })
    await expect(failing).rejects.toThrow('/site/conf.ini:5 [/m] type: not here')
  })
})

describe('collecting every problem (smap validate)', () => {
  it('goes on past a bad Metadata/ key of the root', async () => {
    const errors: ConfigError[] = []
    await loadText(`[/]\nuuid = ${ROOT}\nMetadata/__proto__/x = 1\nMetadata/Location/City = Berkeley\nMetadata/Location/City/Street = Main\n[/s]\nProperties/UnitofMeasure = V\nBufferSize = 0\n`, 'conf.ini', { errors })
    expect(errors.map((e) => e.message)).toEqual([
      'conf.ini:3 [/] Metadata/__proto__/x: metadata __proto__/x for /: "__proto__" cannot be a metadata name',
      'conf.ini:5 [/] Metadata/Location/City/Street: metadata Location/City/Street for /: City already holds the value "Berkeley", so it cannot also be a group',
      'conf.ini:8 [/s] BufferSize: expected a whole number from 1 to 100000, got "0"',
    ])
  })
})

describe('a [report] whose ExpireTime has passed', () => {
  it('is left out with a warning that names it, and the source loads', async () => {
    const warnings: string[] = []
    const logger = { info: () => {}, warn: (m: string) => void warnings.push(m), error: () => {} }
    const inst = await loadText(`[/]\nuuid = ${ROOT}\n\n[report old]\nReportDeliveryLocation = http://127.0.0.1:9/add\nReportResource = /+\nExpireTime = 1000\n`, 'conf.ini', { logger })
    expect(inst.subscriptions.size).toBe(0)
    expect(warnings).toEqual(['conf.ini:7 [report old] ExpireTime: this subscription expired at 1970-01-01T00:16:40.000Z; it is left out (remove the section, or give a later ExpireTime)'])
  })
})
