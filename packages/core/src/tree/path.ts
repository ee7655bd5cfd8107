import { smapError } from '../errors.js'

// Path segments are used verbatim in URLs and config section headers, so keep
// them to characters that need no escaping in either.
const SEGMENT_PATTERN = "[A-Za-z0-9_.~:@!$'()*,;=-]+"
const SEGMENT = new RegExp(`^${SEGMENT_PATTERN}$`)
/** A path already in normal form: `/` then valid segments, none `.` or `..`, no empty one. */
const NORMAL = new RegExp(`^(?:/(?!\\.\\.?(?:/|$))${SEGMENT_PATTERN})+$`)

/** `/a/b` from `a/b`, `/a//b/` or `/a/b`; throws a clear error for a bad segment. */
export function normalizePath(path: string): string {
  if (typeof path !== 'string') {
    throw smapError('SMAP_PATH_INVALID', `a path must be a string like "/instrument0/sensor0", got ${String(path)}`)
  }
  if (NORMAL.test(path)) return path // most paths are, and a source checks each one several times
  const parts = splitPath(path)
  return parts.length === 0 ? '/' : `/${parts.join('/')}`
}

/** The segments of a path; validates each. */
export function splitPath(path: string): string[] {
  const parts = path.split('/').filter((p) => p !== '')
  for (const part of parts) {
    if (part === '.' || part === '..' || part === '+' || !SEGMENT.test(part)) {
      throw smapError(
        'SMAP_PATH_INVALID',
        `invalid path "${path}": segment "${part}" may use only letters, digits and _ . ~ : @ ! $ ' ( ) * , ; = - (and not be ".", ".." or "+")`,
      )
    }
  }
  return parts
}

/** The parent of a normalized path (`/` for a top-level one). */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/')
  return i <= 0 ? '/' : path.slice(0, i)
}

/** The last segment of a normalized path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** `child` relative to `base`: `/` for the base itself, else without the base prefix. */
export function relativePath(base: string, child: string): string {
  if (child === base) return '/'
  return base === '/' ? child : child.slice(base.length)
}

/** Whether `path` is `base` or lies below it. */
export function isWithin(base: string, path: string): boolean {
  return base === '/' || path === base || path.startsWith(`${base}/`)
}

/** The path of `name` directly below `parent`. */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`
}

/** The full path of `rel` (normalized, driver-relative) below `base`: `/` is `base` itself. */
export function pathBelow(base: string, rel: string): string {
  return base === '/' ? rel : rel === '/' ? base : `${base}${rel}`
}
