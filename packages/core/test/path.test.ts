import { describe, expect, it } from 'vitest'
import { normalizePath, splitPath } from '../src/tree/path.js'

/** What normalizePath gives without its shortcut for paths already in normal form. */
function slow(path: string): string {
  const parts = splitPath(path)
  return parts.length === 0 ? '/' : `/${parts.join('/')}`
}

function outcome(f: () => string): string {
  try {
    return f()
  } catch (err) {
    return `error: ${(err as Error).message}`
  }
}

describe('normalizePath', () => {
  it('gives the same path or the same error as splitting it, for any path', () => {
    const pieces = ['/', '//', 'a', 'b1', '.', '..', '...', '.a', 'a.', '+', ' ', 'é', "it's", 'x=1;y', '~u@h', '-', '?', '#', '%20', '\\']
    let seed = 7
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff
      return seed % n
    }
    const paths = ['', '/', '/a', 'a', '/a/', '/a//b', '/./a', '/a/..', '/a/...', '/..a', '/a/+']
    for (let k = 0; k < 5000; k++) {
      let p = ''
      for (let n = random(7); n > 0; n--) p += pieces[random(pieces.length)]
      paths.push(p)
    }
    for (const p of paths) expect(outcome(() => normalizePath(p)), JSON.stringify(p)).toBe(outcome(() => slow(p)))
  })

  it('returns a path already in normal form as it is', () => {
    expect(normalizePath('/instrument0/sensor0')).toBe('/instrument0/sensor0')
    expect(normalizePath('/a/.b/c..')).toBe('/a/.b/c..')
    expect(normalizePath('instrument0//sensor0/')).toBe('/instrument0/sensor0')
  })
})
