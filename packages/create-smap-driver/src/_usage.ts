import { stripVTControlCharacters } from 'node:util'

/** Whether to colour output written to `stream`: a terminal, NO_COLOR unset or empty (https://no-color.org), and not TERM=dumb. */
export function wantsColor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env.NO_COLOR ?? '') === '' && env.TERM !== 'dumb'
}

/**
 * citty's usage text, with its colours only where they can show (see `wantsColor`).
 * Piped or redirected, it is plain text; the padding citty puts after the last column goes too.
 */
export function forOutput(usage: string, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): string {
  return (wantsColor(stream, env) ? usage : stripVTControlCharacters(usage)).replace(/[ \t]+$/gm, '')
}
