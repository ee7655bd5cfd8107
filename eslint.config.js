import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// Package boundaries (DESIGN.md §2): drivers import @smap/sdk only, core
// imports sdk, cli imports core; nobody reaches into another package's files.
const deepImport = { group: ['@smap/*/*', '!@smap/sdk/testing'], message: 'import a package by its name, never by a deep path' }
const restrict = (names, why) => ({
  'no-restricted-imports': ['error', { paths: names.map((name) => ({ name, message: why })), patterns: [deepImport] }],
})

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', '**/.smap/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { patterns: [deepImport] }],
    },
  },
  { files: ['packages/sdk/src/**'], rules: restrict(['@smap/core', '@smap/cli'], '@smap/sdk is the plugin contract and depends on no runtime') },
  { files: ['packages/core/src/**'], rules: restrict(['@smap/cli'], '@smap/core must not depend on the CLI') },
  {
    files: ['packages/driver-*/src/**', 'packages/create-smap-driver/template/**'],
    rules: restrict(['@smap/core', '@smap/cli'], 'drivers depend on @smap/sdk only'),
  },
)
