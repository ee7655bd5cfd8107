import { importHistory, load, SmapError, type ImportProgress } from '@smap/core'
import { defineCommand } from 'citty'
import { SingleBar } from 'cli-progress'
import { UsageError } from './commands.js'

/** `2024-01-01` (midnight UTC) or any ISO 8601 time, as Unix ms. */
export function parseTime(value: string | undefined, flag: string): number {
  if (value === undefined) throw new UsageError(`${flag} is required, e.g. ${flag} 2024-01-01`)
  const t = /^\d{4}-\d{2}-\d{2}$/.test(value) ? Date.parse(`${value}T00:00:00Z`) : /^\d{4}-\d{2}-\d{2}T/.test(value) ? Date.parse(value) : Number.NaN
  if (Number.isNaN(t)) throw new UsageError(`${flag}: expected a date like 2024-01-01 or a time like 2024-01-01T08:00:00Z, got "${value}"`)
  return t
}

function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '?'
  const s = Math.round(ms / 1000)
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}

export const loadCommand = defineCommand({
  meta: { name: 'load', description: "Import history through drivers' load() and deliver it to the config's reports" },
  args: {
    conf: { type: 'positional', description: 'the config file, e.g. conf.ini', required: true },
    start: { type: 'string', description: 'first day or time to import, e.g. 2024-01-01 (UTC)' },
    end: { type: 'string', description: 'day or time to stop before, e.g. 2024-02-01 (UTC)' },
    path: { type: 'string', description: 'only drivers at or below this path, e.g. /caiso' },
    'chunk-hours': { type: 'string', description: 'length of one chunk (default 24)' },
    restart: { type: 'boolean', description: 'forget the progress of an earlier run of the same import' },
  },
  async run({ args }) {
    const start = parseTime(args.start, '--start')
    const end = parseTime(args.end, '--end')
    if (start >= end) throw new UsageError(`--start (${args.start}) must be before --end (${args.end})`)
    const hours = args['chunk-hours'] === undefined ? 24 : Number(args['chunk-hours'])
    if (!(hours > 0)) throw new UsageError(`--chunk-hours: expected a positive number, got "${args['chunk-hours']}"`)
    const inst = await load(args.conf)
    const abort = new AbortController()
    const onSignal = (): void => abort.abort(new SmapError('SMAP_IMPORT_INTERRUPTED', 'interrupted'))
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)

    const tty = process.stderr.isTTY === true
    const bar = tty
      ? new SingleBar({ format: 'importing [{bar}] {value}/{total} chunks | {readings} readings | {rate}/s | ETA {eta_formatted} | {undelivered} to deliver', stream: process.stderr, hideCursor: true })
      : undefined
    let lastLine = 0
    const show = (p: ImportProgress): void => {
      const rate = p.elapsedMs > 0 ? Math.round((p.readings / p.elapsedMs) * 1000) : 0
      if (bar) {
        if (p.phase === 'import' && p.chunksDone - p.resumed === 1) bar.start(p.chunks, p.chunksDone, { readings: 0, rate: 0, undelivered: 0 })
        bar.update(p.chunksDone, { readings: p.readings, rate, undelivered: p.undelivered })
        return
      }
      const now = Date.now()
      if (p.phase === 'deliver' && now - lastLine < 2000) return
      lastLine = now
      const fresh = p.chunksDone - p.resumed
      const eta = fresh > 0 ? (p.elapsedMs / fresh) * (p.chunks - p.chunksDone) : Number.NaN
      const what =
        p.phase === 'import'
          ? `chunk ${p.chunksDone}/${p.chunks} ${p.driver ?? ''} ${p.chunkStart === undefined ? '' : new Date(p.chunkStart).toISOString().slice(0, 16)}Z: ${p.readings} readings, ${rate}/s, ETA ${duration(eta)}`
          : p.phase === 'deliver'
            ? `delivering: ${p.undelivered} readings not yet acknowledged`
            : `all ${p.readings} readings acknowledged`
      process.stderr.write(`${what}\n`)
    }
    try {
      const result = await importHistory(inst, { start, end, path: args.path, chunkMs: hours * 3_600_000, restart: args.restart === true, signal: abort.signal, onProgress: show })
      bar?.stop()
      process.stdout.write(
        `imported ${result.readings} readings in ${result.chunks - result.resumed} chunks${result.resumed > 0 ? ` (${result.resumed} done by an earlier run)` : ''} in ${duration(result.elapsedMs)}; every reading acknowledged\n`,
      )
    } catch (err) {
      bar?.stop()
      if (abort.signal.aborted) {
        const { backlog } = inst.undelivered()
        throw new SmapError('SMAP_IMPORT_INTERRUPTED', `interrupted: completed chunks are recorded and ${backlog} readings wait in the outbox; run the same command again to resume and deliver them`)
      }
      throw err
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      await inst.stop()
    }
  },
})
