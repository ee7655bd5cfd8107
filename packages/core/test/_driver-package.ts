import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

// Fixture drivers import zod, not @smap/sdk: vitest runs Node with the "@smap/source"
// condition, under which the SDK resolves to its .ts sources. A definition is plain data.
const zodDir = dirname(createRequire(import.meta.url).resolve('zod/package.json'))

/**
 * Writes an installed-looking package at `dir`: package.json (an ESM module whose entry is
 * index.js, unless `pkg` says otherwise), `files`, and zod linked into its node_modules.
 */
export async function writeDriverPackage(dir: string, pkg: Record<string, unknown>, files: Record<string, string> = {}): Promise<void> {
  await mkdir(join(dir, 'node_modules'), { recursive: true })
  await writeFile(join(dir, 'package.json'), JSON.stringify({ version: '1.0.0', type: 'module', exports: './index.js', ...pkg }))
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text)
  await symlink(zodDir, join(dir, 'node_modules', 'zod'))
}
