import { defineConfig, type Options } from 'tsup'
import { packageConfig } from '../../tsup.base.js'

// the live view (web/src) is a browser bundle of its own, with uPlot inside, in web/dist:
// the server serves those files and nothing else to a browser
const page: Options = {
  entry: { main: 'web/src/main.ts' },
  outDir: 'web/dist',
  format: ['iife'],
  platform: 'browser',
  target: 'es2021',
  minify: true,
  clean: true,
  dts: false,
  sourcemap: false,
  publicDir: 'web/public',
  outExtension: () => ({ js: '.js' }),
}

// the worker a driver runs in under `Isolation = worker` is its own entry, beside index.js
export default defineConfig([
  packageConfig({ entry: { index: 'src/index.ts', 'worker-entry': 'src/drivers/worker-entry.ts' } }) as Options,
  page,
])
