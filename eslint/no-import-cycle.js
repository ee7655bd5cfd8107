// A lint rule: no import cycles between a package's own files, type-only
// imports included (import-x/no-cycle skips those, and a type-only cycle is
// still two files that cannot be understood apart). It follows relative
// imports with TypeScript's own pre-processor, so `import type`, `export ...
// from` and side-effect imports all count.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, relative, resolve } from 'node:path'
import ts from 'typescript'

const graph = new Map()

/** The files a file imports, relatively, resolved to the .ts files on disk. */
function importsOf(file) {
  let deps = graph.get(file)
  if (deps) return deps
  deps = []
  graph.set(file, deps)
  let text
  try {
    text = readFileSync(file, 'utf8')
  } catch {
    return deps
  }
  for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
    if (!ref.fileName.startsWith('.')) continue
    const target = resolveTs(resolve(dirname(file), ref.fileName))
    if (target) deps.push({ target, specifier: ref.fileName })
  }
  return deps
}

function resolveTs(path) {
  for (const candidate of [path.replace(/\.js$/, '.ts'), `${path}.ts`, `${path}/index.ts`, path]) if (existsSync(candidate) && candidate.endsWith('.ts')) return candidate
  return undefined
}

/** A path of imports from `from` back to `to`, or undefined. */
function pathBack(from, to, seen = new Set()) {
  if (from === to) return [to]
  if (seen.has(from)) return undefined
  seen.add(from)
  for (const { target } of importsOf(from)) {
    const rest = pathBack(target, to, seen)
    if (rest) return [from, ...rest]
  }
  return undefined
}

export default {
  meta: { type: 'problem', docs: { description: 'no import cycles, type-only imports included' }, schema: [] },
  create(context) {
    const file = context.filename
    graph.delete(file) // this file as it is now
    const check = (node) => {
      const spec = node.source?.value
      if (typeof spec !== 'string' || !spec.startsWith('.')) return
      const target = resolveTs(resolve(dirname(file), spec))
      if (!target) return
      const cycle = pathBack(target, file)
      if (cycle) {
        const shown = [file, ...cycle].map((f) => relative(process.cwd(), f)).join(' -> ')
        context.report({ node, message: `import cycle: ${shown}; move what both need into a file they both import` })
      }
    }
    return { ImportDeclaration: check, ExportNamedDeclaration: check, ExportAllDeclaration: check }
  },
}
