import { builtinModules } from 'node:module'
import { CreateError } from './errors.js'

/** The prefix of a driver's default package name: `my-meter` becomes `smap-driver-my-meter`. */
export const PACKAGE_PREFIX = 'smap-driver-'

const MAX_LENGTH = 214 // npm's limit for a package name
const PART = /^[a-z0-9][a-z0-9._-]*$/
const RULE = 'use lowercase letters, digits, "-", "." and "_", starting with a letter or digit'

/** A name close to `value` that follows the rules, or undefined when nothing usable is left. */
function suggest(value: string): string | undefined {
  const s = value
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[._-]+|[._-]+$/g, '')
  return s === '' ? undefined : s
}

function reserved(name: string): string | undefined {
  if (builtinModules.includes(name) || name === 'node_modules' || name === 'favicon.ico') return `"${name}" is reserved by Node.js or npm`
  if (name === 'collection' || name === 'timeseries') return `a config reads \`type = ${name}\` as a resource, not a driver`
  return undefined
}

/** Checks a driver name (the directory, and the package name's suffix); throws a CreateError saying the fix. */
export function checkDriverName(name: string): void {
  if (name === '') throw new CreateError('SMAP_CREATE_NAME', 'a driver name is required, e.g. npm create smap-driver my-meter')
  if (!PART.test(name)) {
    const hint = suggest(name.replace(/^@[^/]*\//, ''))
    const scoped = name.includes('/') ? '; a scoped package name goes in --package-name' : ''
    throw new CreateError('SMAP_CREATE_NAME', `invalid driver name "${name}": ${RULE}${hint ? ` (try "${hint}")` : ''}${scoped}`)
  }
  if (PACKAGE_PREFIX.length + name.length > MAX_LENGTH) {
    throw new CreateError('SMAP_CREATE_NAME', `invalid driver name "${name}": at most ${MAX_LENGTH - PACKAGE_PREFIX.length} characters, so that ${PACKAGE_PREFIX}NAME fits npm's limit`)
  }
}

/** Checks an npm package name (optionally scoped); throws a CreateError saying the fix. */
export function checkPackageName(name: string): void {
  const slash = name.indexOf('/')
  const parts = name.startsWith('@') && slash > 1 ? [name.slice(1, slash), name.slice(slash + 1)] : [name]
  if (!parts.every((p) => PART.test(p))) {
    throw new CreateError('SMAP_CREATE_PACKAGE_NAME', `invalid package name "${name}": ${RULE}, optionally scoped as @scope/name`)
  }
  if (name.length > MAX_LENGTH) throw new CreateError('SMAP_CREATE_PACKAGE_NAME', `invalid package name "${name}": npm allows at most ${MAX_LENGTH} characters`)
  const why = reserved(name)
  if (why) throw new CreateError('SMAP_CREATE_PACKAGE_NAME', `invalid package name "${name}": ${why}; choose another`)
}

/** Checks a one-line text value such as the description. */
export function checkLine(what: string, value: string): void {
  if (/[\r\n]/.test(value)) throw new CreateError('SMAP_CREATE_INVALID', `the ${what} must be one line`)
}
