import { defineConfig } from 'vitest/config'

// Tests read sibling packages from source through the "@smap/source" export
// condition, so they need no build; end-to-end tests that spawn the `smap`
// binary use the built packages (the test command builds first).
export default defineConfig({
  resolve: { conditions: ['@smap/source', 'module', 'node', 'development|production'] },
  ssr: { resolve: { conditions: ['@smap/source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
})
