import { ConfigError, smapError } from '../errors.js'

// A reader for the INI dialect of Python's ConfigParser, which the original
// sMAP loader used, keeping the line of every section and key so that each
// config error can point at it. (The `ini` package keeps no positions, splits
// section names at dots and turns "true" into a boolean.)
//
// Syntax: `[section]` headers; `key = value` or `key: value`; whole-line
// comments starting with `#` or `;`; an inline comment is `;` after
// whitespace; an indented line continues the previous value. Keys keep their
// case. A repeated section or key is an error rather than a silent merge.

export interface IniEntry {
  key: string
  value: string
  line: number
}

export interface IniSection {
  name: string
  line: number
  entries: IniEntry[]
}

const HEADER = /^\[(.+)\]\s*(?:[;#].*)?$/
// `s`: a value may hold U+2028, U+2029 or a lone CR, which `.` would not match
const OPTION = /^([^:=\s][^:=]*?)\s*[:=]\s*(.*)$/s

/**
 * Sections of an INI text in file order; throws a ConfigError naming file and
 * line, or, given `errors`, collects each problem there and reads on (a
 * repeated section or key keeps its first occurrence).
 */
export function parseIni(text: string, file: string, errors?: ConfigError[]): IniSection[] {
  const fail = (err: ConfigError): void => {
    if (errors) errors.push(err)
    else throw err
  }
  const sections: IniSection[] = []
  const seen = new Map<string, IniSection>()
  let current: IniSection | undefined
  let last: IniEntry | undefined
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/)
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] as string
    const line = i + 1
    const trimmed = raw.trim()
    if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith(';')) {
      if (trimmed === '') last = undefined
      continue
    }
    if (/^\s/.test(raw) && last) {
      last.value = last.value === '' ? stripComment(trimmed) : `${last.value}\n${stripComment(trimmed)}`
      continue
    }
    const header = HEADER.exec(trimmed)
    if (header) {
      const name = (header[1] as string).trim()
      const previous = seen.get(name)
      last = undefined
      if (previous) {
        fail(new ConfigError('SMAP_CONFIG_DUPLICATE_SECTION', { file, line, section: name }, `section [${name}] appears twice (first on line ${previous.line}); merge them into one`))
        current = { name, line, entries: [] } // read on, but keep it out of the result
        continue
      }
      current = { name, line, entries: [] }
      seen.set(name, current)
      sections.push(current)
      continue
    }
    const option = OPTION.exec(trimmed)
    if (!option) {
      fail(new ConfigError('SMAP_CONFIG_SYNTAX', { file, line, section: current?.name }, `cannot read ${JSON.stringify(trimmed)}: expected a [section] header or a "key = value" line`))
      last = undefined
      continue
    }
    const key = (option[1] as string).trim()
    if (!current) {
      fail(new ConfigError('SMAP_CONFIG_SYNTAX', { file, line, key }, `"${key}" comes before any [section]; put it under a section such as [/]`))
      last = undefined
      continue
    }
    const dup = current.entries.find((e) => e.key === key)
    if (dup) {
      fail(new ConfigError('SMAP_CONFIG_DUPLICATE_KEY', { file, line, section: current.name, key }, `set twice in this section (first on line ${dup.line}); keep one`))
      last = undefined
      continue
    }
    last = { key, value: stripComment(option[2] as string), line }
    current.entries.push(last)
  }
  return sections
}

function stripComment(value: string): string {
  const m = /\s;/.exec(value)
  return (m ? value.slice(0, m.index) : value).trim()
}

/**
 * INI text for sections of `[key, value]` pairs, in the layout the tutorial
 * shows. A key or value this dialect cannot carry faithfully (one it would
 * read back differently) is an error naming it, never a silent change.
 */
export function writeIni(sections: Array<{ name: string; entries: Array<[string, string]> }>): string {
  const out: string[] = []
  for (const { name, entries } of sections) {
    const lines = [`[${name}]`]
    for (const [key, value] of entries) {
      const option = OPTION.exec(`${key} = x`)
      const valueLines = value.split('\n')
      if (!option || option[1] !== key || key.startsWith('#') || key.startsWith(';') || key.startsWith('[')) {
        throw smapError('SMAP_DUMP_UNREPRESENTABLE', `cannot write [${name}] ${key}: a config key cannot start with # ; [ or contain : = or surrounding spaces`)
      }
      const continuationIsComment = valueLines.slice(1).some((l) => l.startsWith('#') || l.startsWith(';'))
      if (valueLines.some((l) => l.trim() === '' && valueLines.length > 1) || valueLines.some((l) => stripComment(l) !== l) || continuationIsComment) {
        throw smapError(
          'SMAP_DUMP_UNREPRESENTABLE',
          `cannot write [${name}] ${key} = ${JSON.stringify(value)}: a config value cannot have surrounding spaces, blank lines, lines starting with # or ;, or ";" after a space`,
        )
      }
      lines.push(`${key} = ${valueLines.join('\n    ')}`)
    }
    out.push(lines.join('\n'))
  }
  return `${out.join('\n\n')}\n`
}
