import { defineConfig } from 'tsup'

// @smap/sdk is a peer dependency, so it stays an import: the driver shares the SDK smap runs.
export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
})
