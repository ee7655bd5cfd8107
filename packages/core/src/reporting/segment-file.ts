import { cp, mkdir, readFile, rename, rm, stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { Logger } from '../logger.js'
import { readSegmentDoc, type SegmentDoc, type StoredChunk } from './chunk.js'
import { Store } from './store.js'

/** Errors that mean the disk (or the quota) is full. */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT'])

/** A damaged outbox file found at start: what was wrong, and where it is kept (null: left in place). */
export interface Quarantined {
  file: string
  kept: string | null
  problem: string
}

/**
 * Opens a segment file found at start: its store, its chunks in order and
 * their offsets; undefined when it cannot be opened at all. What is damaged
 * is set aside first (`found` hears of it), and what can be read is kept.
 */
export async function openSegment(
  dir: string,
  file: string,
  logger: Logger,
  found: (q: Quarantined) => void,
): Promise<{ ds: Store<SegmentDoc>; chunks: StoredChunk[]; offsets: Map<number, number[]>; readOnly: boolean } | undefined> {
  // NeDB never settles on a directory or a device: set such a thing aside before it looks
  if (!(await stat(file).then((st) => st.isFile(), () => true))) {
    found(await quarantine(dir, file, 'move', 'not a file', logger))
    return undefined
  }
  const damaged = await damagedLines(file)
  if (damaged > 0) found(await quarantine(dir, file, 'copy', `${damaged} damaged line${damaged === 1 ? '' : 's'}; what can be read is kept`, logger))
  let ds: Store<SegmentDoc>
  let readOnly = false
  try {
    ds = await Store.open<SegmentDoc>(file)
  } catch (err) {
    try {
      // a full disk is no reason to set a file aside: NeDB could not rewrite it, so read it as it is
      if (!NO_SPACE.has((err as NodeJS.ErrnoException).code ?? '')) throw err
      // the rewrite it could not finish leaves a partial `file~`, which NeDB would bring back once `file` is gone
      await rm(`${file}~`, { force: true })
      ds = await Store.open<SegmentDoc>(file, { rewrite: false })
      readOnly = true
      logger.warn(`outbox segment ${file}: loaded as it is (${(err as Error).message}); it is delivered, and its delivery progress is recorded only when all of it has been delivered`)
    } catch (again) {
      found(await quarantine(dir, file, 'move', `unreadable: ${(again as Error).message}`, logger))
      return undefined
    }
  }
  const offsets = new Map<number, number[]>()
  const chunks: StoredChunk[] = []
  for (const raw of ds.loaded()) {
    const d = readSegmentDoc(raw)
    if (d?.kind === 'offsets') offsets.set(d.s, d.o)
    else if (d?.kind === 'chunk') chunks.push(d.chunk)
  }
  chunks.sort((a, b) => a.s - b.s)
  return { ds, chunks, offsets, readOnly }
}

/**
 * Damaged files are never deleted: a copy (or the thing itself, when it
 * cannot be opened at all) goes to `DIR/quarantine/`, named in the log; the
 * caller lists it in `/status` and delivers what can be read.
 */
export async function quarantine(dir: string, file: string, how: 'copy' | 'move', why: string, logger: Logger): Promise<Quarantined> {
  const target = join(dir, 'quarantine', `${basename(file)}.${Date.now()}`)
  try {
    await mkdir(join(dir, 'quarantine'), { recursive: true })
    if (how === 'copy') await cp(file, target, { recursive: true })
    else await rename(file, target)
    logger.error(`outbox segment ${file}: ${why}; ${how === 'copy' ? 'a copy is' : 'it is'} kept in ${target}`)
    return { file, kept: target, problem: why }
  } catch (err) {
    logger.error(`outbox segment ${file}: ${why}; it could not be set aside (${(err as Error).message}) and is left where it is`)
    return { file, kept: null, problem: why }
  }
}

/**
 * Lines of a segment file that cannot be documents: NeDB skips them without a
 * word. A torn last line (a write cut short by a crash, so no newline after it)
 * is expected and not counted.
 */
async function damagedLines(file: string): Promise<number> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch {
    return 0 // not a readable file: opening it says why
  }
  const lines = text.split('\n')
  // every line NeDB writes ends with a newline; one without it is the torn last one
  const end = text.endsWith('\n') ? lines.length : lines.length - 1
  let damaged = 0
  for (let i = 0; i < end; i++) {
    const line = lines[i] as string
    if (line === '') continue
    if (line.charCodeAt(0) !== 123 || line.charCodeAt(line.length - 1) !== 125 || line.includes('\u0000')) damaged++
  }
  return damaged
}
