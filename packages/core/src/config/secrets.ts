import { readFileSync } from 'node:fs'
import { isAbsolute, relative, resolve, sep } from 'node:path'
import { Secret } from '../credentials.js'
import { ConfigError, type ConfigLocation } from '../errors.js'

// A config never holds a secret itself, only where to find it: `env:NAME`
// (read from the environment at load) or `file:PATH` (read at load, relative
// to the config's folder, one trailing newline dropped). Messages name the
// reference, never the value.

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** Why a file could not be read, in a few words. */
export function whyUnreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code
  return code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String((err as Error).message ?? err)
}

/**
 * The secret `value` points at; `envHint` is the variable the fix suggests
 * (e.g. SMAP_REPORT_TOKEN). A clear value, a variable that is not set and a
 * file that cannot be read are ConfigErrors at `where`.
 */
export function readSecret(value: string, where: ConfigLocation, dir: string, envHint: string): Secret {
  const key = where.key ?? 'Secret'
  if (value.startsWith('env:')) {
    const name = value.slice('env:'.length)
    if (!ENV_NAME.test(name)) throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected env: and the name of an environment variable (letters, digits, _), such as env:${envHint}`)
    const text = process.env[name]
    if (text === undefined || text === '') {
      throw new ConfigError('SMAP_CONFIG_NO_SECRET', where, `environment variable ${name} is not set${text === '' ? ' (it is empty)' : ''}; set it where smap runs (e.g. Environment= in its systemd unit), or keep the secret in a file and write "${key} = file:PATH"`)
    }
    return new Secret(`env:${name}`, text)
  }
  if (value.startsWith('file:')) {
    const given = value.slice('file:'.length)
    if (given === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, 'expected file: and a path, such as file:/etc/smap/token (relative to the config\'s folder)')
    const path = resolve(dir, given)
    let text: string
    try {
      text = readFileSync(path, 'utf8')
    } catch (err) {
      throw new ConfigError('SMAP_CONFIG_NO_SECRET', where, `cannot read the secret file ${path}: ${whyUnreadable(err)}`, { cause: err })
    }
    text = text.replace(/\r?\n$/, '')
    if (text === '') throw new ConfigError('SMAP_CONFIG_NO_SECRET', where, `the secret file ${path} is empty`)
    return new Secret(`file:${path}`, text)
  }
  throw new ConfigError(
    'SMAP_CONFIG_CLEAR_SECRET',
    where,
    `a secret is never written in the config itself: put it in an environment variable and write "${key} = env:${envHint}", or in a file only smap's user can read and write "${key} = file:/etc/smap/${envHint.toLowerCase().replace(/^smap_/, '').replaceAll('_', '-')}"`,
  )
}

/** A bearer token's secret: `readSecret`, then the rule every token keeps (printable, no spaces, 16 characters or more). */
export function readTokenSecret(value: string, where: ConfigLocation, dir: string, envHint: string): Secret {
  const secret = readSecret(value, where, dir, envHint)
  if (!/^[\x21-\x7e]{16,}$/.test(secret.reveal())) {
    throw new ConfigError(
      'SMAP_CONFIG_INVALID',
      where,
      `the token in ${secret.ref} must be at least 16 characters, letters, digits and ASCII punctuation without spaces (\`smap uuid\` makes a good one)`,
    )
  }
  return secret
}

/** The reference `dump` writes for a secret: `env:NAME`, or `file:` and its path (relative when it is inside `dir`). */
export function writeSecret(secret: Secret, dir: string): string {
  return secret.ref.startsWith('file:') ? `file:${writePath(secret.ref.slice('file:'.length), dir)}` : secret.ref
}

/** A path as a config writes it: relative to `dir` when inside it, else absolute. */
export function writePath(path: string, dir: string): string {
  const rel = relative(dir, path)
  return rel === '' ? '.' : rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel) ? path : rel
}

/** A file the server needs (a TLS key or certificate), checked readable at load: its absolute path. */
export function readFilePath(value: string, where: ConfigLocation, dir: string, expected: string): string {
  if (value === '') throw new ConfigError('SMAP_CONFIG_INVALID', where, `expected ${expected}`)
  const path = resolve(dir, value)
  try {
    readFileSync(path)
  } catch (err) {
    throw new ConfigError('SMAP_CONFIG_UNREADABLE', where, `cannot read ${path}: ${whyUnreadable(err)}`, { cause: err })
  }
  return path
}
