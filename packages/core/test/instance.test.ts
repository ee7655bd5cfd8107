import { describe, expect, it } from 'vitest'
import { SmapInstance } from '@smap/core'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

describe('SmapInstance', () => {
  it('derives a stream uuid from its key exactly as Python uuid.uuid5 does', () => {
    const inst = new SmapInstance(ROOT)
    const ts = inst.addTimeseries('/sensor0', 'sensor0', 'V')
    expect(ts.uuid).toBe('b37e5c5f-e9b0-59a6-8275-08729beeff46')
    expect(inst.uuid('sensor0')).toBe(ts.uuid)
  })

  it('derives the uuid of a keyless stream from its path', () => {
    const inst = new SmapInstance(ROOT)
    // the uuid the tutorial shows for /instrument0/sensor0
    expect(inst.addTimeseries('/instrument0/sensor0', { unit: 'V' }).uuid).toBe('c2f2cb69-25cc-544c-87cc-3b807c58f63a')
  })

  it('keeps the uuid when a keyed stream moves to another path', () => {
    const a = new SmapInstance(ROOT).addTimeseries('/sensor0', 'sensor0', 'V')
    const b = new SmapInstance(ROOT).addTimeseries('/instrument0/sensor0', 'sensor0', 'V')
    expect(b.uuid).toBe(a.uuid)
  })

  it('finds a timeseries by path and by uuid', () => {
    const inst = new SmapInstance(ROOT)
    const ts = inst.addTimeseries('/sensor0', 'sensor0', 'V')
    expect(inst.getTimeseries('/sensor0')).toBe(ts)
    expect(inst.getTimeseries('sensor0')).toBe(ts)
    expect(inst.getTimeseries(ts.uuid)).toBe(ts)
    expect(inst.getTimeseries(ts.uuid.toUpperCase())).toBe(ts)
    expect(inst.lookup('/sensor0/')).toBe(ts)
    expect(inst.getCollection('/sensor0')).toBeUndefined()
    expect(inst.getTimeseries('/nothing')).toBeUndefined()
  })

  it('creates missing parent collections and lists children in order', () => {
    const inst = new SmapInstance(ROOT)
    inst.addTimeseries('/a/b/c', 'c', 'V')
    inst.addTimeseries('/a/d', 'd', 'V')
    expect(inst.getCollection('/')?.toJSON()).toEqual({ Contents: ['a'] })
    expect(inst.getCollection('/a')?.contents).toEqual(['b', 'd'])
    expect([...inst.resources()].map((r) => r.path)).toEqual(['/', '/a', '/a/b', '/a/b/c', '/a/d'])
  })

  it('accepts the option-object form with properties', () => {
    const inst = new SmapInstance(ROOT, { timezone: 'UTC' })
    const ts = inst.addTimeseries('/t', { unit: 'C', readingType: 'double', description: 'temp', bufferSize: 3 })
    ts.add(1000, 1.5)
    expect(ts.toJSON()).toEqual({
      uuid: inst.uuid('/t'),
      Description: 'temp',
      Properties: { UnitofMeasure: 'C', ReadingType: 'double', Timezone: 'UTC' },
      Readings: [[1000, 1.5]],
    })
  })

  it('uses the tutorial defaults: long readings, Los Angeles time, one reading kept', () => {
    const inst = new SmapInstance(ROOT)
    const ts = inst.addTimeseries('/sensor0', 'sensor0', 'V')
    inst.add('/sensor0', 1000, 1)
    inst.add('/sensor0', 2000, 2)
    expect(ts.toJSON()).toEqual({
      uuid: 'b37e5c5f-e9b0-59a6-8275-08729beeff46',
      Properties: { UnitofMeasure: 'V', ReadingType: 'long', Timezone: 'America/Los_Angeles' },
      Readings: [[2000, 2]],
    })
  })

  it('keeps the latest BufferSize readings, oldest first', () => {
    const inst = new SmapInstance(ROOT)
    const ts = inst.addTimeseries('/s', 's', 'V', { bufferSize: 3 })
    for (let i = 1; i <= 5; i++) ts.add(i * 1000, i)
    expect(ts.readings).toEqual([[3000, 3], [4000, 4], [5000, 5]])
    expect(ts.latest).toEqual([5000, 5])
  })

  it('stamps a reading with the current time when none is given', () => {
    const inst = new SmapInstance(ROOT)
    const ts = inst.addTimeseries('/s', 's', 'V')
    const before = Date.now()
    inst.add('/s', 7)
    const [time, value] = ts.latest ?? []
    expect(value).toBe(7)
    expect(time).toBeGreaterThanOrEqual(before)
    expect(time).toBeLessThanOrEqual(Date.now())
  })

  it('rejects a value that does not fit the ReadingType, naming the path and type', () => {
    const inst = new SmapInstance(ROOT)
    inst.addTimeseries('/s', 's', 'V')
    inst.addTimeseries('/d', { unit: 'V', readingType: 'double' })
    inst.addTimeseries('/str', { unit: 'state', readingType: 'string' })
    expect(() => inst.add('/s', 1.5)).toThrow('cannot add 1.5 to /s: its ReadingType is long (a whole number)')
    expect(() => inst.add('/s', 'abc')).toThrow('cannot add the string "abc" to /s: its ReadingType is long (a whole number)')
    expect(() => inst.add('/d', Number.NaN)).toThrow('cannot add NaN to /d: its ReadingType is double (a finite number)')
    expect(() => inst.add('/str', 5)).toThrow('cannot add 5 to /str: its ReadingType is string (a string)')
    expect(() => inst.add('/s', -5, 1)).toThrow('cannot add a reading to /s at time -5: a time is Unix milliseconds, a number >= 0')
    expect(inst.getTimeseries('/s')?.readings).toEqual([])
  })

  it('says which path is unknown when adding to it', () => {
    const inst = new SmapInstance(ROOT)
    inst.addCollection('/c')
    expect(() => inst.add('/nope', 1)).toThrow('no resource at /nope')
    expect(() => inst.add('/c', 1)).toThrow('/c is a collection; readings can only be added to a timeseries')
  })

  it('refuses an existing path, a repeated key and a stream below a stream', () => {
    const inst = new SmapInstance(ROOT)
    inst.addTimeseries('/a/s', 'k', 'V')
    expect(() => inst.addTimeseries('/a/s', 'other', 'V')).toThrow('cannot add /a/s: a timeseries already exists there')
    expect(() => inst.addTimeseries('/b', 'k', 'V')).toThrow('timeseries /b: key "k" is already used by /a/s; keys must be unique in a source')
    expect(() => inst.addTimeseries('/a/s/x', 'x', 'V')).toThrow('cannot add /a/s/x: /a/s is a timeseries, and only collections hold other resources')
    expect(() => inst.addCollection('/a/s')).toThrow('cannot add /a/s: a timeseries already exists there')
    inst.addCollection('/c')
    expect(() => inst.addCollection('/c')).toThrow('cannot add /c: a collection already exists there')
  })

  it('lets a collection made as a parent be added by name later', () => {
    const inst = new SmapInstance(ROOT)
    inst.addTimeseries('/a/s', 's', 'V')
    const a = inst.addCollection('/a', { description: 'meter A' })
    expect(a.toJSON()).toEqual({ Contents: ['s'], Description: 'meter A' })
  })

  it('rejects bad paths, units, buffer sizes, uuids and time zones with the fix in the message', () => {
    const inst = new SmapInstance(ROOT)
    expect(() => inst.addTimeseries('/a b', 'k', 'V')).toThrow(/invalid path "\/a b": segment "a b" may use only letters, digits/)
    expect(() => inst.addTimeseries('/x/+', 'k', 'V')).toThrow(/segment "\+"/)
    expect(() => inst.addTimeseries('/u', 'u', '')).toThrow('timeseries /u needs a unit (Properties/UnitofMeasure), such as "V" or "kW"')
    expect(() => inst.addTimeseries('/b', { unit: 'V', bufferSize: 0 })).toThrow('timeseries /b: BufferSize must be a whole number from 1 to 100000, got 0')
    expect(() => inst.addTimeseries('/z', { unit: 'V', timezone: 'Mars/Base' })).toThrow('timeseries /z: unknown time zone "Mars/Base"')
    expect(() => new SmapInstance('not-a-uuid')).toThrow('the root uuid must be a uuid like 75503ac2-abf0-11e0-b7d6-0026bb56ec92, got "not-a-uuid" (run `smap uuid` for a new one)')
    expect(() => inst.addTimeseries('/', 'k', 'V')).toThrow('cannot add a timeseries at /')
  })

  it('merges metadata given flat or nested and serves it', () => {
    const inst = new SmapInstance(ROOT)
    inst.addCollection('/instrument0')
    inst.setMetadata('/instrument0', { 'Instrument/Manufacturer': 'sMAP Implementer Forum' })
    inst.setMetadata('/instrument0', { Instrument: { Model: 'X1' }, Location: { Floor: 3 } })
    expect(inst.getCollection('/instrument0')?.toJSON().Metadata).toEqual({
      Instrument: { Manufacturer: 'sMAP Implementer Forum', Model: 'X1' },
      Location: { Floor: '3' },
    })
    expect(() => inst.setMetadata('/instrument0', { 'Instrument/Model/Sub': 'x' })).toThrow(
      'metadata Instrument/Model/Sub for /instrument0: Model already holds the value "X1", so it cannot also be a group',
    )
    expect(() => inst.setMetadata('/instrument0', { Extra: [1] } as never)).toThrow('metadata Extra for /instrument0 must be a string, got [1]')
    expect(() => inst.setMetadata('/missing', { A: 'b' })).toThrow('no resource at /missing')
  })

  it('hands out copies of metadata so callers cannot change it unseen', () => {
    const inst = new SmapInstance(ROOT)
    inst.setMetadata('/', { SourceName: 'Demo' })
    const meta = inst.getCollection('/')?.metadata
    if (meta) meta.SourceName = 'changed'
    expect(inst.getCollection('/')?.metadata).toEqual({ SourceName: 'Demo' })
  })
})

describe('onReading', () => {
  it('tells every listener of every reading until it unsubscribes', () => {
    const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92')
    inst.addTimeseries('/a', 'a', 'V')
    const heard: Array<[string, number, unknown]> = []
    const stop = inst.onReading((ts, time, value) => heard.push([ts.path, time, value]))
    inst.add('/a', 5, 1)
    inst.tree.add('/a', 6, 2)
    stop()
    inst.add('/a', 7, 3)
    expect(heard).toEqual([
      ['/a', 5, 1],
      ['/a', 6, 2],
    ])
    expect(inst.getTimeseries('/a')?.latest).toEqual([7, 3])
  })
})

describe('readings a driver might get wrong', () => {
  it('refuses a BigInt, a time past the last date, a lone surrogate and other garbage with a message that says what to do', () => {
    const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92')
    inst.addTimeseries('/n', 'n', 'V')
    inst.addTimeseries('/t', { unit: 'text', readingType: 'string' })
    expect(() => inst.add('/n', 10n as unknown as number)).toThrow('cannot add the BigInt 10n (use a number: Number(x), if it is a safe integer) to /n: its ReadingType is long (a whole number)')
    expect(() => inst.add('/n', 8.64e15 + 1, 1)).toThrow('cannot add a reading to /n at time 8640000000000001: a time is Unix milliseconds, a number >= 0 and at most 8640000000000000 (the last date JavaScript can hold)')
    expect(() => inst.add('/t', 'ok \ud800')).toThrow('cannot add the string "ok \\ud800" to /t: it holds a lone surrogate (half of a UTF-16 pair), which no receiver can decode; fix the text, e.g. with value.toWellFormed()')
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(() => inst.add('/n', circular as unknown as number)).toThrow('cannot add a value of type object to /n: its ReadingType is long (a whole number)')
    expect(() => inst.add('/n', Symbol('x') as unknown as number)).toThrow('cannot add a symbol to /n')
    expect(() => inst.add('/n', null as unknown as number)).toThrow('cannot add null to /n')
    inst.add('/t', 'fine ✓')
    expect(inst.getTimeseries('/t')?.latest?.[1]).toBe('fine ✓')
  })
})
