import { readFileSync } from 'node:fs'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { defineDriver, SDK_VERSION, z } from '@smap/sdk'

describe('defineDriver', () => {
  it('returns its input and types options from the schema', () => {
    const def = defineDriver({
      name: 'counter',
      options: z.object({ Rate: z.coerce.number().positive().default(1), Label: z.string().optional() }),
      setup(_ctx, opts) {
        expectTypeOf(opts).toEqualTypeOf<{ Rate: number; Label?: string | undefined }>()
      },
      start(_ctx, opts) {
        expectTypeOf(opts.Rate).toBeNumber()
      },
    })
    expect(def.name).toBe('counter')
  })
})

describe('SDK_VERSION', () => {
  it('is the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    expect(SDK_VERSION).toBe(pkg.version)
  })
})
