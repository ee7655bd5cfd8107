import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { SmapInstance, dumpText, loadText, type Logger, type MetadataInput } from '@smap/core'

// DESIGN.md §6: `load(dump(x))` gives the same tree and the same uuids, and a
// value the INI dialect cannot carry is an error naming it, never a silent change.

const RUNS = 200
const silent: Logger = { info: () => {}, warn: () => {}, error: () => {} }

const READING_TYPES = ['long', 'double', 'string'] as const
const TIMEZONES = ['UTC', 'America/Los_Angeles', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/Argentina/Buenos_Aires', 'Etc/GMT+5']

/**
 * What the dialect carries: every line without surrounding spaces or `;` after
 * a space, no blank line in a multi-line value, and no continuation line that
 * starts with `#` or `;` (it would read as a comment).
 */
function isRepresentable(value: string): boolean {
  const lines = value.split('\n')
  return lines.every((l, i) => l === l.trim() && !/\s;/.test(l) && (lines.length === 1 || l !== '') && (i === 0 || !/^[#;]/.test(l)))
}

// Text a config must carry unchanged: spaces inside, INI punctuation, URLs, unicode, several lines.
const token = fc.oneof(
  fc.constantFrom(
    'a', 'Z', '0', 'x y', '=', ':', '#', ';', '[', ']', '[/x]', '/', '\\', '"', "'", ' = ', ': ', '# ', 'a;b', 'key = value',
    'é', 'Ω', '日本語', '😀', 'e\u0301', '\u00a0', '\t', '\u2028', 'http://example.com/a?b=c&d=e#frag', 'https://[::1]:8080/add', '%20',
  ),
  fc.string({ unit: 'grapheme', maxLength: 3 }),
)
const text = fc
  .array(fc.tuple(fc.constantFrom('', ' ', '  ', '\n'), token), { maxLength: 6 })
  .map((parts) => parts.map(([sep, t], i) => (i === 0 ? t : sep + t)).join(''))
  .filter(isRepresentable)
const nonEmptyText = text.filter((t) => t !== '')

const pathSegment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'sensor0', 'instrument0', 'x.y', '_', '-') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.-]{1,8}$/).filter((s) => s !== '.' && s !== '..') },
)
const path = fc.array(pathSegment, { minLength: 1, maxLength: 4 }).map((segments) => `/${segments.join('/')}`)

const metadataSegment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('Instrument', 'Location', 'Extra', 'SourceName', 'Model', 'Room', 'a', 'b') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_]{1,6}$/) },
)
interface MetadataCall {
  segments: string[]
  value: string
  /** How the key is passed to setMetadata: `A/B/C`, `{A: {B: {C}}}` or `{A: {'B/C'}}`. */
  form: 'flat' | 'nested' | 'mixed'
}
const metadataCalls = fc.array(
  fc.record({
    segments: fc.array(metadataSegment, { minLength: 1, maxLength: 3 }),
    value: text,
    form: fc.constantFrom('flat', 'nested', 'mixed'),
  }),
  { maxLength: 4 },
)

type Identity = { by: 'path' } | { by: 'key'; key: string } | { by: 'uuid'; uuid: string }
interface CollectionSpec {
  kind: 'Collection'
  path: string
  description: string | undefined
  metadata: MetadataCall[]
}
interface TimeseriesSpec {
  kind: 'Timeseries'
  path: string
  identity: Identity
  unit: string
  readingType: (typeof READING_TYPES)[number]
  timezone: string | undefined
  bufferSize: number
  description: string | undefined
  metadata: MetadataCall[]
}
interface TreeSpec {
  root: string
  timezone: string | undefined
  description: string | undefined
  metadata: MetadataCall[]
  resources: Array<CollectionSpec | TimeseriesSpec>
}

const identity: fc.Arbitrary<Identity> = fc.oneof(
  fc.constant({ by: 'path' as const }),
  // a key starting with "/" could name the same uuid as some stream's path
  nonEmptyText.filter((k) => !k.startsWith('/')).map((key) => ({ by: 'key' as const, key })),
  fc.tuple(fc.uuid(), fc.boolean()).map(([uuid, upper]) => ({ by: 'uuid' as const, uuid: upper ? uuid.toUpperCase() : uuid })),
)
const collectionSpec: fc.Arbitrary<CollectionSpec> = fc.record({
  kind: fc.constant('Collection' as const),
  path,
  description: fc.option(text, { nil: undefined }),
  metadata: metadataCalls,
})
const timeseriesSpec: fc.Arbitrary<TimeseriesSpec> = fc.record({
  kind: fc.constant('Timeseries' as const),
  path,
  identity,
  unit: fc.oneof(fc.constantFrom('V', 'kW', '°C', 'm/s', 'A'), nonEmptyText),
  readingType: fc.constantFrom(...READING_TYPES),
  timezone: fc.option(fc.constantFrom(...TIMEZONES), { nil: undefined }),
  bufferSize: fc.integer({ min: 1, max: 50 }),
  description: fc.option(text, { nil: undefined }),
  metadata: metadataCalls,
})
const treeSpec: fc.Arbitrary<TreeSpec> = fc.record({
  root: fc.uuid(),
  timezone: fc.option(fc.constantFrom(...TIMEZONES), { nil: undefined }),
  description: fc.option(text, { nil: undefined }),
  metadata: metadataCalls,
  resources: fc.array(fc.oneof(collectionSpec, timeseriesSpec), { maxLength: 12 }),
})

function ancestors(p: string): string[] {
  const out: string[] = []
  for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) out.push(p.slice(0, i))
  return out
}

function metadataInput({ segments, value, form }: MetadataCall): MetadataInput {
  if (form === 'flat' || segments.length === 1) return { [segments.join('/')]: value }
  if (form === 'mixed') return { [segments[0] as string]: { [segments.slice(1).join('/')]: value } }
  let input: MetadataInput = { [segments[segments.length - 1] as string]: value }
  for (let i = segments.length - 2; i >= 0; i--) input = { [segments[i] as string]: input }
  return input
}

/** Applies the calls that fit together (a name is never both a value and a group). */
function setMetadata(inst: SmapInstance, at: string, calls: MetadataCall[]): void {
  const values = new Set<string>()
  const groups = new Set<string>()
  for (const call of calls) {
    const prefixes = call.segments.slice(0, -1).map((_, i) => call.segments.slice(0, i + 1).join('/'))
    const name = call.segments.join('/')
    if (groups.has(name) || prefixes.some((p) => values.has(p))) continue
    inst.setMetadata(at, metadataInput(call))
    values.add(name)
    for (const p of prefixes) groups.add(p)
  }
}

/** The instance a spec describes, skipping resources that cannot coexist with earlier ones. */
function build(spec: TreeSpec): SmapInstance {
  const inst = new SmapInstance(spec.root, { timezone: spec.timezone, logger: silent })
  inst.getCollection('/')!.description = spec.description
  setMetadata(inst, '/', spec.metadata)
  const taken = new Map<string, 'Collection' | 'Timeseries' | 'parent'>()
  const keys = new Set<string>()
  for (const r of spec.resources) {
    const above = ancestors(r.path)
    if (above.some((a) => taken.get(a) === 'Timeseries')) continue
    const existing = taken.get(r.path)
    if (r.kind === 'Collection') {
      // naming a collection first made as a parent is allowed
      if (existing !== undefined && existing !== 'parent') continue
      inst.addCollection(r.path).description = r.description
    } else {
      if (existing !== undefined) continue
      const id = r.identity
      if (id.by === 'key' && keys.has(id.key)) continue
      if (id.by === 'key') keys.add(id.key)
      inst.addTimeseries(r.path, {
        unit: r.unit,
        key: id.by === 'key' ? id.key : undefined,
        uuid: id.by === 'uuid' ? id.uuid : undefined,
        readingType: r.readingType,
        timezone: r.timezone,
        bufferSize: r.bufferSize,
        description: r.description,
      })
    }
    for (const a of above) if (!taken.has(a)) taken.set(a, 'parent')
    taken.set(r.path, r.kind)
    setMetadata(inst, r.path, r.metadata)
  }
  return inst
}

/** Everything a config carries: root, default zone, and each resource in order with its object and identity. */
function describeTree(inst: SmapInstance) {
  return {
    root: inst.root,
    timezone: inst.timezone,
    resources: [...inst.resources()].map((r) =>
      r.type === 'Timeseries'
        ? { path: r.path, object: r.toJSON(), key: r.key, explicitUuid: r.explicitUuid, ownTimezone: r.ownTimezone }
        : { path: r.path, object: r.toJSON() },
    ),
  }
}

function thrownBy(fn: () => unknown): Error & { code?: string } {
  try {
    fn()
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected an error, but none was thrown')
}

describe('dumpText and loadText', () => {
  it('read back a dumped tree with the same resources, metadata, properties and uuids', async () => {
    await fc.assert(
      fc.asyncProperty(treeSpec, async (spec) => {
        const before = build(spec)
        const text = dumpText(before)
        const after = await loadText(text, 'conf.ini', { logger: silent })

        expect(describeTree(after)).toStrictEqual(describeTree(before))
        for (const ts of before.timeseries()) expect(after.lookup(ts.uuid)?.path).toBe(ts.path)
        expect(dumpText(after)).toBe(text)
      }),
      { numRuns: RUNS },
    )
  })

  /** Text around a representable value that makes it unrepresentable. */
  const corruption: fc.Arbitrary<{ before: string; after: string }> = fc.oneof(
    fc.record({ before: fc.constantFrom(' ', '\t', '\u00a0', '  '), after: fc.constant('') }),
    fc.record({ before: fc.constant(''), after: fc.constantFrom(' ', '\t', '\u00a0', '  ') }),
    fc.record({ before: fc.constant(''), after: fc.tuple(fc.constantFrom(' ;', '\t;', ' ; comment'), text).map(([a, b]) => a + b) }),
    fc.record({ before: fc.constant(''), after: fc.tuple(fc.constantFrom('\n\n', '\n \n', '\n\t\n'), nonEmptyText).map(([a, b]) => a + b) }),
    fc.record({ before: fc.constant(''), after: fc.constantFrom('\n', '\n x', '\nx ', '\n#', '\n; x') }),
  )
  /** Where to put the bad value: a field of the resource at `index` (mod the count), or of a new timeseries. */
  type Target =
    | { field: 'Description'; index: number }
    | { field: 'Metadata'; index: number; segments: string[] }
    | { field: 'Properties/UnitofMeasure' | 'key' }
  const target: fc.Arbitrary<Target> = fc.oneof(
    fc.record({ field: fc.constant('Description' as const), index: fc.nat() }),
    fc.record({ field: fc.constant('Metadata' as const), index: fc.nat(), segments: fc.array(metadataSegment, { maxLength: 2 }) }),
    fc.record({ field: fc.constantFrom('Properties/UnitofMeasure' as const, 'key' as const) }),
  )

  it('refuse a value the INI dialect would read back differently, naming its section and key', () => {
    fc.assert(
      fc.property(treeSpec, target, nonEmptyText, corruption, (spec, where, base, { before, after }) => {
        const inst = build(spec)
        const value = before + base + after
        fc.pre(!isRepresentable(value))
        let section: string
        let key: string
        if (where.field === 'Description' || where.field === 'Metadata') {
          const resources = [...inst.resources()]
          const r = resources[where.index % resources.length]!
          section = r.path
          if (where.field === 'Description') {
            key = 'Description'
            r.description = value
          } else {
            // longer than any generated metadata name, so it is neither a value nor a group yet
            const name = ['Unrepresentable', ...where.segments].join('/')
            key = `Metadata/${name}`
            inst.setMetadata(section, { [name]: value })
          }
        } else {
          // '~' is a valid path character the generated paths never use, so this path is free
          section = '/~bad'
          key = where.field
          inst.addTimeseries(section, where.field === 'key' ? { unit: 'V', key: value } : { unit: value })
        }

        const err = thrownBy(() => dumpText(inst))
        expect(err.code).toBe('SMAP_DUMP_UNREPRESENTABLE')
        expect(err.message).toBe(
          `cannot write [${section}] ${key} = ${JSON.stringify(value)}: a config value cannot have surrounding spaces, blank lines, lines starting with # or ;, or ";" after a space`,
        )
      }),
      { numRuns: RUNS },
    )
  })
})
