import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadText } from '@smap/core'
import { describe, expect, it } from 'vitest'

const quiet = { info() {}, warn() {}, error() {} }
const FILE = join(tmpdir(), 'conf.ini')
const load = (...broker: string[]): Promise<unknown> => loadText(['[/]', 'uuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92', '', '[broker site]', ...broker, ''].join('\n'), FILE, { logger: quiet })

describe('[broker NAME] sections', () => {
  it('reads the login, the password from the environment and the files relative to the config', async () => {
    process.env.SMAP_TEST_BROKER_PW = 'hunter2-but-longer'
    const inst = (await load('Url = mqtts://broker.example.com:8883', 'Username = gw', 'Password = env:SMAP_TEST_BROKER_PW', 'CA = ca.pem', 'Cert = certs/gw.pem', 'Key = certs/gw.key')) as { server: { brokers: Array<Record<string, unknown>> } }
    const [b] = inst.server.brokers
    expect(b).toMatchObject({ name: 'site', url: 'mqtts://broker.example.com:8883', username: 'gw', ca: join(tmpdir(), 'ca.pem'), cert: join(tmpdir(), 'certs/gw.pem'), key: join(tmpdir(), 'certs/gw.key') })
    expect(JSON.stringify(b)).not.toContain('hunter2')
    delete process.env.SMAP_TEST_BROKER_PW
  })

  it('says where and how to fix a wrong section', async () => {
    await expect(load('Url = http://broker:1883')).rejects.toThrow("conf.ini:5 [broker site] Url: expected the broker's mqtt://host:port or mqtts://host:port (no path, no user or password: those are Username and Password), got \"http://broker:1883\"")
    await expect(load('Url = mqtt://me:pw@broker:1883')).rejects.toThrow(/no user or password: those are Username and Password/)
    await expect(load('Username = gw')).rejects.toThrow('conf.ini:4 [broker site] Url: missing: the broker this login is for, e.g. "Url = mqtts://broker.example.com:8883"')
    await expect(load('Url = mqtt://broker', 'Pasword = env:X')).rejects.toThrow(/unknown key in a broker section: expected Url .*, Username, Password/)
    await expect(load('Url = mqtt://broker', 'Password = hunter2')).rejects.toThrow(/Password/)
    await expect(load('Url = mqtt://broker', 'Cert = a.pem')).rejects.toThrow('a client certificate needs both Cert and Key')
  })
})
