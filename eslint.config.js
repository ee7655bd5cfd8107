import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import noImportCycle from './eslint/no-import-cycle.js'

// Package boundaries: drivers import @smap/sdk only (and @smap/testing in
// their tests), core imports sdk, cli imports core; nobody reaches into
// another package's files.
// A subpath a package exports on purpose is its API too: @smap/driver-modbus/link is the Modbus
// transport the Modbus drivers share.
const deepImport = { group: ['@smap/*/*', '!@smap/driver-modbus/link'], message: 'import a package by its name (or a subpath it exports), never by a deep path' }
const restrict = (names, why, patterns = []) => ({
  'no-restricted-imports': ['error', { paths: names.map((name) => ({ name, message: why })), patterns: [deepImport, ...patterns] }],
})

// Inside @smap/core, the folders are layers: the tree is the ground floor,
// drivers and reporting stand on it side by side, actuation (jobs, the
// audit log) on the drivers, the instance ties them together, and config,
// http and history sit on top. A folder imports only
// from below (the files beside index.ts — errors, logger, clock — are for all).
const folder = (name) => ({ group: [`../${name}/*`, `./${name}/*`], message: `this layer of @smap/core may not import from ${name}/` })
const instance = { group: ['../instance.js', './instance.js'], message: 'only config/, http/ and history/ sit above the instance' }
const layer = (names, extra = []) => restrict(['@smap/cli'], '@smap/core must not depend on the CLI', [...names.map(folder), ...extra])

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.smap/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
    plugins: { local: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { patterns: [deepImport] }],
      'local/no-import-cycle': 'error',
    },
  },
  {
    // type-aware: a promise nobody awaits loses its error
    files: ['packages/*/src/**/*.ts', 'packages/*/test/**/*.ts', 'packages/core/web/src/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts', 'examples/*/src/**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: { '@typescript-eslint/no-floating-promises': 'error' },
  },
  {
    files: ['packages/*/src/**/*.ts', 'packages/core/web/src/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 450, skipBlankLines: false, skipComments: false }] },
  },
  { files: ['packages/sdk/src/**'], rules: restrict(['@smap/core', '@smap/cli', '@smap/testing'], '@smap/sdk is the plugin contract and depends on no runtime') },
  { files: ['packages/core/src/**'], rules: layer([]) },
  { files: ['packages/core/src/*.ts'], ignores: ['packages/core/src/index.ts', 'packages/core/src/instance.ts'], rules: layer(['tree', 'drivers', 'reporting', 'actuation', 'config', 'http', 'history'], [instance]) },
  { files: ['packages/core/src/tree/**'], rules: layer(['drivers', 'reporting', 'actuation', 'config', 'http', 'history'], [instance]) },
  { files: ['packages/core/src/drivers/**'], rules: layer(['reporting', 'actuation', 'config', 'http', 'history'], [instance]) },
  { files: ['packages/core/src/actuation/**'], rules: layer(['reporting', 'config', 'http', 'history'], [instance]) },
  { files: ['packages/core/src/reporting/**'], rules: layer(['drivers', 'actuation', 'config', 'http', 'history'], [instance]) },
  { files: ['packages/core/src/instance.ts'], rules: layer(['config', 'http', 'history']) },
  {
    // core makes its errors with smapError() or a subclass, so every code is one of ErrorCode's
    files: ['packages/core/src/**'],
    ignores: ['packages/core/src/errors.ts'],
    rules: { 'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='SmapError']", message: "use smapError('SMAP_...') so the code is one of ErrorCode's" }] },
  },
  { files: ['packages/testing/src/**'], rules: restrict(['@smap/cli'], '@smap/testing runs drivers on @smap/core, not the CLI') },
  {
    files: ['packages/driver-*/src/**', 'packages/create-smap-driver/template/src/**'],
    rules: restrict(['@smap/core', '@smap/cli', '@smap/testing'], 'drivers depend on @smap/sdk only'),
  },
  {
    files: ['packages/driver-*/test/**', 'packages/create-smap-driver/template/test/**'],
    rules: restrict(['@smap/core', '@smap/cli'], "a driver's tests run it with @smap/testing"),
  },
)
