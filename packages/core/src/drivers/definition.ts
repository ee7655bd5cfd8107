import { isAbsolute, resolve } from 'node:path'
import { z } from 'zod'
import type { DriverDefinition, OptionsSchema } from '@smap/sdk'
import { smapError } from '../errors.js'

function isZodSchema(value: unknown): value is z.ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value && typeof (value as { safeParse?: unknown }).safeParse === 'function'
}

const fn = (what: string) => z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message: `${what} must be a function` })

const definitionSchema = z.object({
  name: z.string({ message: 'name must be a non-empty string' }).min(1, { message: 'name must be a non-empty string' }),
  description: z.string().optional(),
  options: z.custom<z.ZodType>(isZodSchema, { message: 'options must be a zod schema (build it with z from @smap/sdk)' }).optional(),
  files: z.array(z.string(), { message: 'files must be a list of option names, e.g. ["RegisterMap"]' }).optional(),
  setup: fn('setup'),
  start: fn('start').optional(),
  stop: fn('stop').optional(),
  load: fn('load').optional(),
})

/**
 * Checks that `value` is a driver definition; `what` names it in the error
 * (e.g. `driver "smap-driver-x"`). Used by the host when it loads a driver.
 */
export function parseDriverDefinition(value: unknown, what: string): DriverDefinition {
  if (typeof value !== 'object' || value === null) {
    throw smapError('SMAP_DRIVER_INVALID', `${what} is not a driver: expected an object made with defineDriver() from @smap/sdk, got ${value === null ? 'null' : typeof value}`)
  }
  const result = definitionSchema.safeParse(value)
  if (!result.success) {
    const problems = result.error.issues.map((i) => (i.path.length > 0 && !i.message.startsWith(String(i.path[0])) ? `${i.path.join('.')}: ${i.message}` : i.message))
    throw smapError('SMAP_DRIVER_INVALID', `${what} is not a valid driver definition: ${problems.join('; ')}`)
  }
  const def = value as DriverDefinition
  const names = optionNames(def.options)
  const unknown = names === undefined ? [] : (def.files ?? []).filter((f) => !names.includes(f))
  if (unknown.length > 0) {
    throw smapError('SMAP_DRIVER_INVALID', `${what} is not a valid driver definition: files names ${unknown.join(', ')}, which ${unknown.length === 1 ? 'is not an option' : 'are not options'} of its schema`)
  }
  return def
}

/**
 * The raw options with each option the driver lists in `files` resolved
 * against `baseDir` (the config file's folder) when it is a relative path.
 */
export function resolveFileOptions(definition: DriverDefinition, raw: Record<string, string>, baseDir: string): Record<string, string> {
  const out = { ...raw }
  for (const key of definition.files ?? []) {
    const v = out[key]
    if (v !== undefined && v.trim() !== '' && !isAbsolute(v)) out[key] = resolve(baseDir, v)
  }
  return out
}

/** The option names a driver declares, when its schema is a plain object schema. */
export function optionNames(schema: OptionsSchema | undefined): string[] | undefined {
  if (schema === undefined) return []
  const shape = (schema as { shape?: unknown }).shape
  return schema instanceof z.ZodObject || (typeof shape === 'object' && shape !== null) ? Object.keys(shape as object) : undefined
}

/**
 * Validates raw options (config strings) against a driver's schema; the error
 * lists each problem as `Key: zod's message`. Unknown keys are refused when
 * the schema is an object schema, so a misspelt option is never ignored.
 */
export function parseDriverOptions(definition: DriverDefinition, raw: Record<string, unknown>): { ok: true; options: unknown } | { ok: false; problems: Array<{ key?: string; message: string }> } {
  const problems: Array<{ key?: string; message: string }> = []
  const names = optionNames(definition.options)
  if (names) {
    for (const key of Object.keys(raw)) {
      if (!names.includes(key)) {
        problems.push({ key, message: `unknown option for driver ${definition.name}; ${names.length > 0 ? `it accepts ${names.join(', ')}` : 'it takes no options'}` })
      }
    }
  }
  const schema = definition.options ?? z.object({})
  const result = schema.safeParse(raw)
  if (!result.success) {
    for (const issue of result.error.issues) {
      const key = issue.path.length > 0 ? String(issue.path[0]) : undefined
      // quote the value, unless it is a file the message already names
      const named = key !== undefined && definition.files?.includes(key) === true && issue.message.includes(String(raw[key]))
      const got = key !== undefined && key in raw && !named ? `, got ${JSON.stringify(raw[key])}` : ''
      problems.push({ key, message: `${issue.message}${got}` })
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, options: result.data }
}

/** One line for every problem of a driver's options: `Key: message; ...`. */
export function describeOptionProblems(problems: Array<{ key?: string; message: string }>): string {
  return problems.map((p) => (p.key ? `${p.key}: ${p.message}` : p.message)).join('; ')
}

/** The options parsed by the driver's schema, or an error naming the driver (and where it is attached, when `at` is given). */
export function checkDriverOptions(definition: DriverDefinition, raw: Record<string, unknown>, at?: string): unknown {
  const parsed = parseDriverOptions(definition, raw)
  if (parsed.ok) return parsed.options
  throw smapError('SMAP_DRIVER_OPTIONS', `invalid options for driver ${definition.name}${at === undefined ? '' : ` at ${at}`}: ${describeOptionProblems(parsed.problems)}`)
}
