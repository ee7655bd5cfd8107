import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, extname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The template directory: `template/` beside `src/` and `dist/`. */
export const TEMPLATE_DIR = fileURLToPath(new URL('../template/', import.meta.url))

/**
 * Files npm would drop or treat specially are kept under another name and renamed on copy:
 * npm leaves `.gitignore` out of a tarball, and a `package.json` inside ours would be read as a
 * nested package (publint flags its `exports`).
 */
const RENAMES: Record<string, string> = { _gitignore: '.gitignore', '_package.json': 'package.json' }

const PLACEHOLDER = /\{\{(\w+)\}\}/g

// A value lands inside a string literal in JSON and TypeScript files, so it is escaped for it.
const escapeFor = (file: string, value: string): string => {
  switch (extname(file)) {
    case '.json':
      return JSON.stringify(value).slice(1, -1)
    case '.ts':
      return value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")
    default:
      return value
  }
}

/** Fills `{{name}}` placeholders in one pass (a value is never expanded again); an unknown one is a bug in the template. */
export function render(text: string, values: Record<string, string>, file: string): string {
  return text.replace(PLACEHOLDER, (match, key: string) => {
    const value = values[key]
    if (value === undefined) throw new Error(`template ${file} uses ${match}, which create-smap-driver does not fill`)
    return escapeFor(file, value)
  })
}

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true })
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort()
}

/** Copies the template into `target`, filling placeholders; returns the paths written, relative to `target`. */
export async function copyTemplate(target: string, values: Record<string, string>, templateDir = TEMPLATE_DIR): Promise<string[]> {
  const written: string[] = []
  for (const file of await listFiles(templateDir)) {
    const base = file.split(/[\\/]/).pop() as string
    const out = join(dirname(file), RENAMES[base] ?? base)
    const text = render(await readFile(join(templateDir, file), 'utf8'), values, file)
    await mkdir(dirname(join(target, out)), { recursive: true })
    await writeFile(join(target, out), text)
    written.push(out.split('\\').join('/'))
  }
  return written.sort()
}
