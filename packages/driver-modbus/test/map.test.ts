import { createHarness } from '@smap/testing'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ModbusDriver } from '../src/index.js'
import { HEADER, mapFolder } from './_map.js'

let folder: ReturnType<typeof mapFolder>
beforeEach(() => {
  folder = mapFolder()
})
afterEach(() => folder.clean())

/** What the option check says of a map with these lines (after the header), one problem a line, the folder as DIR. */
async function problems(lines: string[], options: Record<string, string> = {}, header = HEADER): Promise<string[]> {
  const file = folder.write('ahu.csv', `${header}\n${lines.join('\n')}\n`)
  const err = await createHarness(ModbusDriver, { Address: '10.0.0.7', RegisterMap: file, ...options }).then(
    () => undefined,
    (e: Error) => e,
  )
  if (!err) throw new Error('the map was accepted')
  const text = err.message.replaceAll(folder.dir, 'DIR').replace(/^invalid options for driver modbus: /, '')
  return text.split(/; (?=RegisterMap: )/).map((p) => p.replace(/^RegisterMap: /, ''))
}

describe('a bad register map is a config error naming its file and line', () => {
  it('unknown type, function and order', async () => {
    expect(
      await problems([
        '/a,holding,0,int8,,,,x,,,,,',
        '/b,holdng,1,,,,,x,,,,,',
        '/c,holding,2,float32,AB,,,x,,,,,',
        '/d,coil,3,uint16,,,,on/off,,,,,',
      ]),
    ).toEqual([
      'DIR/ahu.csv:2: /a: unknown type "int8": expected int16, uint16, int32, uint32, float32, float64',
      'DIR/ahu.csv:3: /b: unknown function "holdng": expected holding, input, coil or discrete',
      'DIR/ahu.csv:4: /c: order "AB" does not fit a float32: expected ABCD, CDAB, BADC, DCBA',
      'DIR/ahu.csv:5: /d: a coil is one bit: leave type empty (or write bool), got "uint16"',
    ])
  })

  it('addresses out of range, a multi-register type past the end included', async () => {
    expect(await problems(['/a,holding,65536,,,,,x,,,,,', '/b,holding,65535,float32,,,,x,,,,,', '/c,input,65533,float64,,,,x,,,,,', '/d,holding,-1,,,,,x,,,,,', '/ok,holding,65534,float32,,,,x,,,,,'])).toEqual([
      'DIR/ahu.csv:2: /a: address 65536 is out of range: Modbus addresses go from 0 to 65535 (holding register 40001 is address 0)',
      'DIR/ahu.csv:3: /b: a float32 takes 2 registers, 65535 to 65536, past the last address 65535',
      'DIR/ahu.csv:4: /c: a float64 takes 4 registers, 65533 to 65536, past the last address 65535',
      'DIR/ahu.csv:5: /d: address: expected a whole number from 0 to 65535 (the protocol address: holding register 40001 is address 0), got "-1"',
    ])
  })

  it('points that share a register of one unit, counting each multi-register point whole', async () => {
    expect(
      await problems([
        '/a,holding,0,float64,,,,x,,,,,',
        '/b,holding,3,,,,,x,,,,,',
        '/c,input,3,,,,,x,,,,,',
        '/d,holding,3,,,,,x,,,,,7',
        '/e,coil,5,,,,,x,,,,,',
        '/f,coil,5,,,,,x,,,,,',
      ]),
    ).toEqual([
      'DIR/ahu.csv:3: /b (holding 3) overlaps /a (0 to 3, line 2) of unit 1: each register belongs to one point',
      'DIR/ahu.csv:7: /f (coil 5) overlaps /e (5, line 6) of unit 1: each register belongs to one point',
    ])
    // the section's unit id decides which rows share a unit
    expect(await problems(['/a,holding,3,,,,,x,,,,,', '/d,holding,3,,,,,x,,,,,7'], { UnitId: '7' })).toEqual([
      'DIR/ahu.csv:3: /d (holding 3) overlaps /a (3, line 2) of unit 7: each register belongs to one point',
    ])
  })

  it('writable input registers and discrete inputs, a range where none applies, and a range the type cannot hold', async () => {
    expect(
      await problems([
        '/a,input,0,,,,,x,true,,,,',
        '/b,discrete,0,,,,,x,yes,,,,',
        '/c,holding,1,,,,,x,,0,10,,',
        '/d,holding,2,int16,,,,x,true,0,40000,,',
        '/e,holding,3,uint16,,0.1,,x,true,0,7000,,',
        '/f,holding,4,,,,,x,maybe,,,,',
        '/g,holding,5,,,,,x,true,0.5,10,,',
      ]),
    ).toEqual([
      'DIR/ahu.csv:2: /a: an input register cannot be written: only holding registers and coils can; set writable to false',
      'DIR/ahu.csv:3: /b: a discrete input cannot be written: only holding registers and coils can; set writable to false',
      'DIR/ahu.csv:4: /c: min is the range of a writable holding register; leave it empty here',
      'DIR/ahu.csv:5: /d: the range 0 to 40000 does not fit a int16: it holds -32768 to 32767',
      'DIR/ahu.csv:6: /e: the range 0 to 7000 does not fit a uint16 scaled by 0.1 with offset 0: it holds 0 to 6553.5',
      'DIR/ahu.csv:7: /f: writable: expected true or false, got "maybe"',
      'DIR/ahu.csv:8: /g: min and max of a uint16 with no scale are whole numbers, got 0.5 and 10',
    ])
  })

  it('paths used twice, or a point that would hold others', async () => {
    expect(await problems(['/ahu/fan,coil,0,,,,,x,,,,,', 'ahu/fan/,coil,1,,,,,x,,,,,', '/ahu/fan/speed,holding,0,,,,,x,,,,,', '/bad path,holding,1,,,,,x,,,,,'])).toEqual([
      'DIR/ahu.csv:3: the path /ahu/fan is already the point on line 2: each point needs a path of its own',
      'DIR/ahu.csv:5: invalid path "/bad path": segment "bad path" may use only letters, digits and _ . ~ : @ ! $ \' ( ) * , ; = -',
      'DIR/ahu.csv:4: /ahu/fan/speed lies below the point /ahu/fan (line 2): a point cannot hold others; rename one',
    ])
  })

  it('bad numbers, a missing unit, and rows that do not match the header', async () => {
    expect(await problems(['/a,holding,0,,,ten,,x,,,,,', '/b,holding,1,,,0,,x,,,,,', '/c,holding,2,,,,,,,,,,', '/d,holding,3'])).toEqual([
      'DIR/ahu.csv:2: /a: scale: expected a number, got "ten"',
      'DIR/ahu.csv:3: /b: scale: expected a number other than 0, got "0"',
      'DIR/ahu.csv:4: /c: unit: missing: give the unit of measure, e.g. kW, degC or on/off',
      'DIR/ahu.csv:5: 3 fields, but the header has 13 (path,function,address,type,order,scale,offset,unit,writable,min,max,description,unitid); quote a field that holds a comma',
    ])
  })

  it('a file that is not CSV', async () => {
    expect(await problems(['/a,holding,0,,,,,x,,,,,', '"/e,holding,4,,,,,x,,,,,'])).toEqual(['DIR/ahu.csv:3: not a readable CSV file: Quote Not Closed: the parsing is finished with an opening quote at line 3'])
  })

  it('a header with an unknown or missing column', async () => {
    expect(await problems(['/a,holding,0,x,1'], {}, 'path,function,address,units,scale')).toEqual([
      'DIR/ahu.csv:1: unknown column "units" in the header: the columns are path, function, address, type, order, scale, offset, unit, writable, min, max, description, unitid',
      'DIR/ahu.csv:1: the header lacks unit: a map needs at least the columns path, function, address, unit',
    ])
  })

  it('a map that cannot be read', async () => {
    const err = await createHarness(ModbusDriver, { Address: '10.0.0.7', RegisterMap: `${folder.dir}/nope.csv` }).then(
      () => undefined,
      (e: Error) => e,
    )
    expect(err?.message.replaceAll(folder.dir, 'DIR')).toBe(
      'invalid options for driver modbus: RegisterMap: cannot read the register map DIR/nope.csv: no such file (a relative path is taken from the config file\'s folder)',
    )
  })
})

describe('a good register map', () => {
  it('takes columns in any order and case, comment lines, quoted fields and defaults', async () => {
    const file = folder.write('ahu.csv', '# the AHU on the roof\nAddress,Path,Unit,Function,Description\n0,/supply_temp,degC,input,"supply air, after the coil"\n\n1,/return_temp,degC,INPUT,\n')
    const h = await createHarness(ModbusDriver, { Address: '10.0.0.7', RegisterMap: file })
    expect(h.options.RegisterMap.points.map((p) => [p.path, p.function, p.address, p.encoding, p.where.replace(folder.dir, 'DIR')])).toEqual([
      ['/supply_temp', 'input', 0, { type: 'uint16', order: 'AB', scale: 1, offset: 0 }, 'DIR/ahu.csv:3'],
      ['/return_temp', 'input', 1, { type: 'uint16', order: 'AB', scale: 1, offset: 0 }, 'DIR/ahu.csv:5'],
    ])
    expect(h.get('/supply_temp')).toMatchObject({ unit: 'degC', readingType: 'long', description: 'supply air, after the coil' })
    expect(h.get('/return_temp')?.description).toBe('input 1 (uint16)')
    // Dent's names and defaults
    expect(h.options).toMatchObject({ Address: '10.0.0.7', Transport: 'rtu-over-tcp', UnitId: 1, Rate: 20, Limit: 1.5, Timeout: 2, MaxGap: 8, MaxBlock: 125 })
  })
})
