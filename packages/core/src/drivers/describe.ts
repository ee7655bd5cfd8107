import { z } from 'zod'
import { LIST_FORMAT, type DriverDefinition } from '@smap/sdk'
import { smapError } from '../errors.js'

/** One option of a driver, as a config section takes it. */
export interface DescribedOption {
  /** The key a config section writes, e.g. `Rate`. */
  key: string
  /** The driver's `.describe()` text, if any. */
  description?: string
  /** Whether a config must give it (no default, not optional). */
  required: boolean
  /** The default in the form a config writes it (`300`, `demand, netdemand`), if there is one. */
  default?: string
  /** What the string must look like, e.g. `a whole number from 1 to 65535` or `comma-separated, any of: DAM, RTM`. */
  form?: string
  /** The option's JSON Schema (a string schema: config values are strings). */
  schema: Record<string, unknown>
}

/** What `describeDriver` tells about a driver's options. */
export interface DriverDescription {
  name: string
  description?: string
  /** The options in the order the schema declares them; empty when it takes none. */
  options: DescribedOption[]
  /**
   * JSON Schema (2020-12) of the options as a config section gives them:
   * every value a string, with `description`, `default` (as a config
   * writes it) and, for numbers and lists, the parsed value's schema under
   * `x-smap-value`; a list option has `format: "comma-separated"`.
   */
  jsonSchema: Record<string, unknown>
  /** A config section ready to paste: `[path]`, `type = ...`, each option with its description as a `;` comment. */
  ini: string
}

type Def = { type: string; [key: string]: unknown }
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def
const metaOf = (schema: z.ZodType): Record<string, unknown> | undefined => z.globalRegistry.get(schema) as Record<string, unknown> | undefined
const jsonOf = (schema: z.ZodType): Record<string, unknown> => {
  const { $schema: _, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  return json
}

const NUMBER_PATTERN = '^\\s*[-+]?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?\\s*$'
const INTEGER_PATTERN = '^\\s*[-+]?\\d+\\s*$'

interface Unwrapped {
  description?: string
  optional: boolean
  /** The default: `output` as the schema gives it to the driver, `input` as a config writes it (prefault). */
  fallback?: { value: unknown; input: boolean }
  /** The schema under the wrappers (default, optional, pipes into their input side). */
  core: z.ZodType
  /** The output side of the outermost pipe of a list option. */
  list?: z.ZodType
}

/** Peels defaults, optionals and pipes off a schema down to what reads the config string. */
function unwrap(schema: z.ZodType): Unwrapped {
  const out: Unwrapped = { optional: false, core: schema }
  for (let s = schema, depth = 0; depth < 50; depth++) {
    const description = metaOf(s)?.description
    if (out.description === undefined && typeof description === 'string') out.description = description
    const def = defOf(s)
    if (def.type === 'default' || def.type === 'prefault') {
      out.fallback ??= { value: def.defaultValue, input: def.type === 'prefault' }
      s = def.innerType as z.ZodType
    } else if (def.type === 'optional' || def.type === 'nullable' || def.type === 'readonly' || def.type === 'catch') {
      if (def.type === 'optional') out.optional = true
      s = def.innerType as z.ZodType
    } else if (def.type === 'pipe') {
      const input = def.in as z.ZodType
      // a list option: a comma-separated string piped into an array
      if (out.list === undefined && isListString(input)) out.list = def.out as z.ZodType
      // z.preprocess: the input is whatever the function takes; what it gives is read by the output side
      s = defOf(input).type === 'transform' ? (def.out as z.ZodType) : input
    } else {
      out.core = s
      return out
    }
  }
  out.core = schema
  return out
}

function isListString(schema: z.ZodType): boolean {
  for (let s = schema, depth = 0; depth < 50; depth++) {
    if (metaOf(s)?.format === LIST_FORMAT) return true
    const def = defOf(s)
    if (def.type === 'pipe') s = def.in as z.ZodType
    else if (def.innerType !== undefined) s = def.innerType as z.ZodType
    else return false
  }
  return false
}

/** The values an enum (or an enum behind transforms, e.g. upper-casing) accepts. */
function enumValues(schema: z.ZodType): string[] | undefined {
  for (let s = schema, depth = 0; depth < 50; depth++) {
    const def = defOf(s)
    if (def.type === 'enum') return Object.values(def.entries as Record<string, string>).map(String)
    if (def.type === 'literal') return (def.values as unknown[]).map(String)
    if (def.type === 'pipe') s = def.out as z.ZodType
    else if (def.innerType !== undefined) s = def.innerType as z.ZodType
    else return undefined
  }
  return undefined
}

/** `a number > 0`, `a whole number from 1 to 247`. */
function numberForm(json: Record<string, unknown>): string {
  const what = json.type === 'integer' ? 'a whole number' : 'a number'
  // zod gives a bare int() the safe-integer range, which says nothing
  const bound = (n: unknown): number | undefined => (typeof n === 'number' && Math.abs(n) < Number.MAX_SAFE_INTEGER ? n : undefined)
  const [min, max, xmin, xmax] = [bound(json.minimum), bound(json.maximum), bound(json.exclusiveMinimum), bound(json.exclusiveMaximum)]
  if (min !== undefined && max !== undefined) return `${what} from ${min} to ${max}`
  const low = min !== undefined ? `≥ ${min}` : xmin !== undefined ? `> ${xmin}` : undefined
  const high = max !== undefined ? `≤ ${max}` : xmax !== undefined ? `< ${xmax}` : undefined
  const range = [low, high].filter((p) => p !== undefined).join(' and ')
  return range === '' ? what : `${what} ${range}`
}

/** A default as a config writes it. */
function configText(value: unknown, list: boolean): string {
  if (list && Array.isArray(value)) return value.map((v) => configText(v, false)).join(', ')
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value)
  return JSON.stringify(value) ?? ''
}

function describeOption(key: string, schema: z.ZodType, isFile: boolean): DescribedOption {
  const u = unwrap(schema)
  const coreDef = defOf(u.core)
  const required = !u.optional && u.fallback === undefined
  const forms: string[] = []
  let json: Record<string, unknown>
  if (u.list !== undefined) {
    const parsed = jsonOf(u.list)
    const element = listElement(u.list)
    const items = element === undefined ? undefined : enumValues(element)
    json = { type: 'string', format: LIST_FORMAT, 'x-smap-value': parsed }
    if (items !== undefined) json.examples = [items.slice(0, 2).join(', ')]
    forms.push(items === undefined ? 'comma-separated' : `comma-separated, any of: ${items.join(', ')}`)
  } else if ((coreDef.type === 'number' || coreDef.type === 'bigint') && coreDef.coerce === true) {
    const parsed = jsonOf(u.core)
    json = { type: 'string', pattern: parsed.type === 'integer' || coreDef.type === 'bigint' ? INTEGER_PATTERN : NUMBER_PATTERN, 'x-smap-value': parsed }
    forms.push(coreDef.type === 'bigint' ? 'a whole number' : numberForm(parsed))
  } else if (coreDef.type === 'array') {
    // a list the driver splits itself (z.preprocess): its separator is the driver's to document
    json = { type: 'string', 'x-smap-value': jsonOf(u.core) }
    forms.push('a list')
  } else {
    json = jsonOf(u.core)
    const values = enumValues(u.core)
    if (values !== undefined) forms.push(`one of: ${values.join(', ')}`)
    else if (json.type !== 'string' && json.type !== undefined) forms.push(`read as ${String(json.type)}`)
  }
  delete json.description
  delete json.default
  if (isFile) forms.push("a file path; a relative one is taken from the config file's folder")
  const option: DescribedOption = { key, required, schema: json }
  if (u.description !== undefined) option.description = u.description
  if (u.fallback !== undefined) option.default = configText(u.fallback.value, u.list !== undefined && !u.fallback.input)
  if (forms.length > 0) option.form = forms.join('; ')
  option.schema = {
    ...(option.description !== undefined ? { description: option.description } : {}),
    ...json,
    ...(option.default !== undefined ? { default: option.default } : {}),
  }
  return option
}

function listElement(schema: z.ZodType): z.ZodType | undefined {
  for (let s = schema, depth = 0; depth < 50; depth++) {
    const def = defOf(s)
    if (def.type === 'array') return def.element as z.ZodType
    if (def.type === 'pipe') s = def.in as z.ZodType
    else if (def.innerType !== undefined) s = def.innerType as z.ZodType
    else return undefined
  }
  return undefined
}

/** The object schema under a driver's options (refinements and transforms of the whole object allowed). */
function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  for (let s = schema, depth = 0; depth < 50; depth++) {
    const def = defOf(s)
    if (def.type === 'object') return def.shape as Record<string, z.ZodType>
    if (def.type === 'pipe') s = def.in as z.ZodType
    else if (def.innerType !== undefined) s = def.innerType as z.ZodType
    else return undefined
  }
  return undefined
}

const comment = (text: string): string[] => text.split(/\r?\n/).map((line) => `; ${line}`.trimEnd())

/**
 * Describes a driver's options for people and tools: a JSON Schema of the
 * config section (values as strings, with descriptions and defaults) and an
 * INI section ready to paste. `type` is what the section's `type =` names
 * (the package, e.g. `@smap/driver-caiso` or `pkg#Export`); `path` is the
 * section's path, default `/` + the driver's name.
 * @example
 * const { ini } = describeDriver((await resolveDriver('@smap/driver-caiso', dir)).definition, { type: '@smap/driver-caiso' })
 */
export function describeDriver(definition: DriverDefinition, at: { type: string; path?: string }): DriverDescription {
  const shape = definition.options === undefined ? {} : objectShape(definition.options)
  if (shape === undefined) {
    throw smapError('SMAP_DRIVER_INVALID', `driver ${definition.name}'s options are not an object schema (z.object({...})), so a config section cannot give them key by key`)
  }
  const files = new Set(definition.files ?? [])
  const options = Object.entries(shape).map(([key, schema]) => describeOption(key, schema, files.has(key)))
  const jsonSchema: Record<string, unknown> = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: `Options of the ${definition.name} driver`,
    ...(definition.description !== undefined ? { description: definition.description } : {}),
    type: 'object',
    properties: Object.fromEntries(options.map((o) => [o.key, o.schema])),
    ...(options.some((o) => o.required) ? { required: options.filter((o) => o.required).map((o) => o.key) } : {}),
    additionalProperties: false,
  }
  const path = at.path ?? `/${definition.name}`
  const lines = [...(definition.description !== undefined ? comment(`${definition.name}: ${definition.description}`) : []), `[${path}]`, `type = ${at.type}`]
  for (const o of options) {
    lines.push('')
    if (o.description !== undefined) lines.push(...comment(o.description))
    const notes = [o.required ? 'required' : undefined, o.form].filter((n) => n !== undefined)
    if (notes.length > 0) lines.push(...comment(notes.join('; ')))
    lines.push(o.default !== undefined ? `${o.key} = ${o.default}`.trimEnd() : `; ${o.key} =`)
  }
  return { name: definition.name, ...(definition.description !== undefined ? { description: definition.description } : {}), options, jsonSchema, ini: `${lines.join('\n')}\n` }
}
