import { randomUUID } from 'node:crypto'
import { mkdir, open, rename } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Replaces `file` with `text` atomically and durably: writes a temporary file
 * beside it, fsyncs it, renames it over, fsyncs the folder, so a kill -9 or a
 * power cut leaves either the old content or the new.
 */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true })
  const tmp = `${file}.${randomUUID().slice(0, 8)}.tmp`
  const f = await open(tmp, 'w')
  try {
    await f.writeFile(text)
    await f.sync()
  } finally {
    await f.close()
  }
  await rename(tmp, file)
  const d = await open(dir, 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}
