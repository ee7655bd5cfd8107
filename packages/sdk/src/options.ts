import { z } from 'zod'

/**
 * The JSON Schema `format` that marks a list option's string form; tools
 * (and `smap describe`) read it as "items separated by commas".
 */
export const LIST_FORMAT = 'comma-separated'

const split = (value: string): string[] =>
  value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')

/**
 * A list option. A config value is a string, so a list is written
 * `a, b, c`: split at commas, blanks around items and empty items ignored;
 * each item is parsed by `item`, and a repeated one is kept once. The
 * driver gets the array. `smap describe` shows the option as a string in
 * this form (the marker survives `.describe()` and `.default()`).
 * @example
 * options: z.object({
 *   Files: listOption(z.enum(['demand', 'netdemand'])).default(['demand']).describe('Files to poll; empty for none.'),
 * })
 */
export function listOption<T extends z.ZodType>(item: T): z.ZodType<z.output<T>[], string> {
  return z
    .string()
    .meta({ format: LIST_FORMAT })
    .transform(split)
    // each item is a string; the item schema decides what strings it takes
    .pipe(z.array(item).transform((values) => [...new Set(values)]) as unknown as z.ZodType<z.output<T>[], string[]>)
}
