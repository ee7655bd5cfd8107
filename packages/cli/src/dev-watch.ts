// Which file changes restart `smap dev`: folders watched recursively (a
// package's src/), single files watched through their folder (editors often
// save by writing a new file and renaming it over the old one).
import { existsSync, readdirSync, statSync, watch, type Dirent, type FSWatcher } from 'node:fs'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'

// folders and files no author edits: dependencies, builds, state, editors' scratch files
const IGNORED_DIRS = new Set(['node_modules', '.git', 'dist', '.smap', 'coverage'])

/** Whether a change to `file` (relative to a watched folder) is worth a restart. */
export function isWatchedChange(file: string): boolean {
  const parts = file.split(/[\\/]/)
  if (parts.slice(0, -1).some((p) => IGNORED_DIRS.has(p))) return false
  const name = parts[parts.length - 1] ?? ''
  // dot files (.#x, .x.swp), backups (x~), vim's write test (4913)
  return name !== '' && !name.startsWith('.') && !name.endsWith('~') && !/\.sw[a-p]$/.test(name) && name !== '4913'
}

/**
 * Calls `onChange` with the absolute path of each relevant change (not
 * debounced). Each folder gets a watcher of its own: Node 20's recursive
 * watch on Linux stops reporting a file once an editor saves it by renaming
 * a new file over it, while a folder's watcher sees every save.
 */
export class DevWatcher {
  readonly #onChange: (file: string) => void
  readonly #onError: (err: Error) => void
  readonly #watchers = new Map<string, FSWatcher>()
  /** Folders watched with everything below them. */
  readonly #trees = new Set<string>()
  /** Single files watched, by folder. */
  readonly #files = new Map<string, Set<string>>()

  constructor(onChange: (file: string) => void, onError: (err: Error) => void) {
    this.#onChange = onChange
    this.#onError = onError
  }

  /** Everything watched (folders end with a separator), for the line that says so. */
  get watched(): string[] {
    return [...[...this.#trees].map((d) => `${d}${sep}`), ...[...this.#files].flatMap(([d, names]) => [...names].map((n) => join(d, n)))]
  }

  /** Watches `dir` and everything below it. */
  addDir(dir: string): void {
    const path = resolve(dir)
    if (this.#trees.has(path)) return
    this.#trees.add(path)
    this.#walk(path)
  }

  /** Watches one file (unless a watched folder holds it already); true if it is new. */
  addFile(file: string): boolean {
    const path = resolve(file)
    if (this.#inTree(path)) return false
    const dir = dirname(path)
    const names = this.#files.get(dir) ?? new Set<string>()
    if (names.has(basename(path))) return false
    names.add(basename(path))
    this.#files.set(dir, names)
    this.#open(dir)
    return true
  }

  close(): void {
    for (const w of this.#watchers.values()) w.close()
    this.#watchers.clear()
  }

  #inTree(path: string): boolean {
    return [...this.#trees].some((d) => path.startsWith(d + sep))
  }

  /** Watches `dir` and its folders below, but those no author edits. */
  #walk(dir: string): void {
    this.#open(dir)
    let entries: Dirent[]
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) if (e.isDirectory() && isWatchedChange(e.name)) this.#walk(join(dir, e.name))
  }

  #open(dir: string): void {
    if (this.#watchers.has(dir)) return
    try {
      const w = watch(dir, { persistent: true }, (_event, name) => this.#changed(dir, name === null ? null : String(name)))
      w.on('error', (err) => {
        w.close()
        this.#watchers.delete(dir)
        // a folder that was removed stops being watched; anything else is worth a line
        if (existsSync(dir)) this.#onError(err)
      })
      this.#watchers.set(dir, w)
    } catch (err) {
      if (existsSync(dir)) this.#onError(err as Error)
    }
  }

  #changed(dir: string, name: string | null): void {
    const path = name === null ? dir : join(dir, name)
    if (this.#inTree(path) || this.#trees.has(dir)) {
      if (name !== null && !isWatchedChange(relative(this.#treeOf(path), path))) return
      // a folder made (or moved) in: watch it too
      if (name !== null && !this.#watchers.has(path) && isDirectory(path)) this.#walk(path)
      this.#onChange(path)
    } else if (name !== null && this.#files.get(dir)?.has(name)) this.#onChange(path)
  }

  #treeOf(path: string): string {
    return [...this.#trees].find((d) => path.startsWith(d + sep)) ?? dirname(path)
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
