import { stripVTControlCharacters } from 'node:util'

/**
 * citty's usage text, with its colours only where they can show: on a terminal, and unless
 * NO_COLOR is set (https://no-color.org). Piped or redirected, it is plain text; the padding
 * citty puts after the last column goes too.
 */
export function forOutput(usage: string, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): string {
  const colour = stream.isTTY === true && (env.NO_COLOR === undefined || env.NO_COLOR === '')
  return (colour ? usage : stripVTControlCharacters(usage)).replace(/[ \t]+$/gm, '')
}
