import { defineConfig, type Options } from 'tsup'

/**
 * How every package in this workspace is built (STYLE.md: ESM, declarations,
 * Node 20). A package's tsup.config.ts is `packageConfig()`, or names extra
 * entry points. The scaffold template keeps its own copy: it ships to authors.
 */
export function packageConfig(options: Options = {}): ReturnType<typeof defineConfig> {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    // declarations leave out what is marked @internal: the public API only
    dts: { compilerOptions: { stripInternal: true } },
    clean: true,
    sourcemap: true,
    target: 'node20',
    ...options,
  })
}
