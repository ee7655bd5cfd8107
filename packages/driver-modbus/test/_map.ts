import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const HEADER = 'path,function,address,type,order,scale,offset,unit,writable,min,max,description,unitid'

/** A folder for register maps, removed by `clean`. */
export function mapFolder(): { dir: string; write(name: string, text: string): string; clean(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'smap-modbus-'))
  return {
    dir,
    write(name, text) {
      const file = join(dir, name)
      writeFileSync(file, text)
      return file
    },
    clean: () => rmSync(dir, { recursive: true, force: true }),
  }
}

/** `{ path, function, ... }` rows as CSV lines under HEADER; columns left out are empty. */
export function rows(points: Array<Partial<Record<string, string | number | boolean>>>): string {
  const cols = HEADER.split(',')
  return `${HEADER}\n${points.map((p) => cols.map((c) => (p[c] === undefined ? '' : String(p[c]))).join(',')).join('\n')}\n`
}
