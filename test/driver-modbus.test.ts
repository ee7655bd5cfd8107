import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { dumpText, loadText, serve, type ConfigError, type SmapInstance, type SmapServer } from '@smap/core'
import { startDevice, type Device } from '../packages/driver-modbus/test/fixtures/device.js'

// A site as `smap run` loads it: @smap/driver-modbus installed by name (the workspace's, built),
// a config in conf/ naming a register map beside it, and the process running from elsewhere.

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const MAP = `path,function,address,type,order,scale,offset,unit,writable,min,max,description
/supply_temp,input,0,int16,,0.1,,degC,,,,supply air
/fan,coil,0,,,,,on/off,true,,,supply fan
/setpoint,holding,10,float32,CDAB,,,degC,true,10,30,
`

describe('@smap/driver-modbus loaded from a config by package name', () => {
  let site: string
  let device: Device
  let inst: SmapInstance | undefined

  beforeEach(async () => {
    site = await mkdtemp(join(tmpdir(), 'smap-modbus-site-'))
    await mkdir(join(site, 'node_modules', '@smap'), { recursive: true })
    await symlink(fileURLToPath(new URL('../packages/driver-modbus', import.meta.url)), join(site, 'node_modules', '@smap', 'driver-modbus'), 'dir')
    await mkdir(join(site, 'conf', 'maps'), { recursive: true })
    device = await startDevice('mbap')
    device.set('input', 0, [215])
    device.set('coil', 0, [true])
    device.set('holding', 10, [0x0000, 0x41ac])
  })
  afterEach(async () => {
    await inst?.stop()
    inst = undefined
    await device.close()
    await rm(site, { recursive: true, force: true })
  })

  const config = (map: string): string =>
    `[/]\nuuid = ${ROOT}\n\n[/ahu]\ntype = @smap/driver-modbus\nAddress = 127.0.0.1\nPort = ${device.port}\nTransport = modbus-tcp\nLimit = 0\nRate = 1\nRegisterMap = ${map}\n`

  it('reads the map beside the config, not beside the process, and runs it', async () => {
    await writeFile(join(site, 'conf', 'maps', 'ahu.csv'), MAP)
    expect(process.cwd()).not.toBe(join(site, 'conf'))
    const text = config('maps/ahu.csv')
    inst = await loadText(text, join(site, 'conf', 'conf.ini'))
    await inst.start()
    const deadline = Date.now() + 5000
    const paths = ['/ahu/supply_temp', '/ahu/fan', '/ahu/setpoint']
    while (paths.some((p) => inst?.getTimeseries(p)?.latest === undefined) && Date.now() < deadline) await sleep(20)
    expect(inst.getTimeseries('/ahu/supply_temp')?.latest?.[1]).toBe(21.5)
    expect(inst.getTimeseries('/ahu/fan')?.latest?.[1]).toBe(1)
    expect(inst.getTimeseries('/ahu/setpoint')?.latest?.[1]).toBe(21.5)
    // written back as the user wrote it
    expect(dumpText(inst, site)).toContain('RegisterMap = maps/ahu.csv\n')
  })

  it('writes the device over HTTP: PUT sets the holding register and the coil, a state out of the map\'s range is a 400 that never reaches it', async () => {
    await writeFile(join(site, 'conf', 'maps', 'ahu.csv'), MAP)
    inst = await loadText(`${config('maps/ahu.csv')}MinWriteInterval = 0\n`, join(site, 'conf', 'conf.ini'), { logger: { info() {}, warn() {}, error() {} } })
    let server: SmapServer | undefined
    try {
      server = await serve(inst, { port: 0 })
      const deadline = Date.now() + 5000
      while (inst.drivers.get('/ahu')?.state !== 'running' && Date.now() < deadline) await sleep(20)
      const put = async (path: string, state: string): Promise<{ status: number; body: { State?: unknown; error?: string } }> => {
        const res = await fetch(`${server?.url}/data/ahu${path}?state=${state}`, { method: 'PUT' })
        return { status: res.status, body: (await res.json()) as { State?: unknown; error?: string } }
      }
      expect(await put('/setpoint', '23.5')).toMatchObject({ status: 200, body: { State: 23.5 } })
      // float32 23.5 is 0x41bc0000, in CDAB order: the low word first
      expect([device.get('holding', 10), device.get('holding', 11)]).toEqual([0x0000, 0x41bc])
      expect(await put('/fan', 'off')).toMatchObject({ status: 200, body: { State: 0 } })
      expect(device.get('coil', 0)).toBe(false)
      const out = await put('/setpoint', '31')
      expect(out.status).toBe(400)
      expect(out.body.error).toContain('it takes a number from 10 to 30')
      expect([device.get('holding', 10), device.get('holding', 11)]).toEqual([0x0000, 0x41bc])
      expect((await fetch(`${server.url}/data/ahu/supply_temp?state=1`, { method: 'PUT' })).status).toBe(405)
    } finally {
      await server?.close()
      inst = undefined
    }
  })

  it('reports a bad map as a config problem at the RegisterMap line, with the map file and its line', async () => {
    await writeFile(join(site, 'conf', 'maps', 'ahu.csv'), `${MAP}/return_temp,input,0,int16,,,,degC,,,,\n`)
    const errors: ConfigError[] = []
    await loadText(config('maps/ahu.csv'), join(site, 'conf', 'conf.ini'), { errors })
    const map = join(site, 'conf', 'maps', 'ahu.csv')
    expect(errors.map((e) => e.message)).toEqual([
      `${join(site, 'conf', 'conf.ini')}:11 [/ahu] RegisterMap: ${map}:5: /return_temp (input 0) overlaps /supply_temp (0, line 2) of unit 1: each register belongs to one point`,
    ])
  })
})
