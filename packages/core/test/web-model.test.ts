import { describe, expect, it } from 'vitest'
import { age, flatten, merge, value } from '../web/src/format.js'
import { buildTree, KEEP, type ResourceJson } from '../web/src/model.js'

// The live view's logic that needs no browser: the tree it builds from GET /data/+, and how it writes things.
const DATA: Record<string, ResourceJson> = {
  '/': { Contents: ['site'], Metadata: { SourceName: 'plant', Location: { City: 'Berkeley' } } },
  '/site': { Contents: ['meter', 'hvac'], Metadata: { Location: { Building: 'Soda' }, Instrument: { Model: 'PS18' } } },
  '/site/meter': { Contents: ['power'], Metadata: { Instrument: { Model: 'PS3037' } } },
  '/site/meter/power': { uuid: 'u1', Properties: { UnitofMeasure: 'kW', ReadingType: 'double' }, Readings: [[1000, 1.5]], Description: 'real power' },
  '/site/hvac': { Contents: ['mode'] },
  '/site/hvac/mode': { uuid: 'u2', Properties: { UnitofMeasure: 'mode', ReadingType: 'long' }, Readings: [[1000, 1]], Actuator: { Model: 'discrete', Values: ['heat', 'cool'] } },
}

describe("the live view's tree", () => {
  it('merges metadata down the tree as a consumer sees it, the deeper value winning', () => {
    const tree = buildTree(DATA)
    expect(tree.sourceName).toBe('plant')
    expect(tree.root.count).toBe(2)
    expect(tree.collections.get('/site')?.count).toBe(2)
    const power = tree.streams.get('/site/meter/power')
    expect(Object.fromEntries(power?.meta ?? [])).toEqual({
      'Metadata/SourceName': 'plant',
      'Metadata/Location/City': 'Berkeley',
      'Metadata/Location/Building': 'Soda',
      'Metadata/Instrument/Model': 'PS3037',
      'Properties/UnitofMeasure': 'kW',
      'Properties/ReadingType': 'double',
    })
    // the filter looks in paths, descriptions and metadata values
    expect(power?.search).toContain('soda')
    expect(power?.search).toContain('real power')
    expect(tree.streams.get('/site/hvac/mode')?.search).not.toContain('ps3037')
  })

  it('names a discrete state, and keeps readings in time order without duplicates, up to its bound', () => {
    const tree = buildTree(DATA)
    const mode = tree.streams.get('/site/hvac/mode')
    expect(mode?.show(1)).toBe('cool')
    const power = tree.streams.get('/site/meter/power')
    if (!power) throw new Error('no stream')
    expect(power.show(2.25)).toBe('2.25 kW')
    power.add([[3000, 3], [2000, 2], [3000, 3.5], [1000, 1.5]])
    expect(power.times).toEqual([1000, 2000, 3000])
    expect(power.values).toEqual([1.5, 2, 3.5])
    power.add(Array.from({ length: KEEP + 10 }, (_, i) => [10_000 + i, i] as const))
    expect(power.times.length).toBe(KEEP)
    expect(power.lastValue).toBe(KEEP + 9)
    power.add([[20_000, 1]], 5)
    expect(power.times.length).toBe(5)
  })

  it('keeps what the page had seen of a stream when the tree is read again, unless its uuid changed', () => {
    const first = buildTree(DATA)
    first.streams.get('/site/meter/power')?.add([[2000, 2]])
    const again = buildTree({ ...DATA, '/site/hvac/mode': { ...DATA['/site/hvac/mode'], uuid: 'other', Readings: [] } }, first)
    expect(again.streams.get('/site/meter/power')?.times).toEqual([1000, 2000])
    expect(again.streams.get('/site/hvac/mode')?.times).toEqual([])
  })
})

describe("the live view's words", () => {
  it('writes ages, values and flattened metadata', () => {
    expect(age(12_000)).toBe('12 s ago')
    expect(age(-300)).toBe('0 s ago') // a reading just ahead of the page's clock
    expect(age(5 * 60_000)).toBe('5 min ago')
    expect(age(3 * 3600_000)).toBe('3 h ago')
    expect(age(-60_000)).toBe('in 60 s')
    expect(value(20.123456)).toBe('20.123')
    expect(value(0.000123456)).toBe('0.0001235')
    expect(value(12345.678)).toBe('12345.7')
    expect(value('x'.repeat(50))).toHaveLength(40)
    expect(flatten({ a: { b: 1, c: 'x' } })).toEqual([['a/b', '1'], ['a/c', 'x']])
    expect(merge({ a: { b: 1 } }, { a: { c: 2 }, d: 3 })).toEqual({ a: { b: 1, c: 2 }, d: 3 })
  })
})
