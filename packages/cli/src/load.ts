import { resolve } from 'node:path'
import { checkTimezone, formatLocalTime, importHistory, load, SmapError, type ImportProgress } from '@smap/core'
import { defineCommand } from 'citty'
import { SingleBar } from 'cli-progress'
import { parseRange } from './_time-args.js'
import { UsageError } from './commands.js'

function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '?'
  const s = Math.round(ms / 1000)
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`
}

export const loadCommand = defineCommand({
  meta: { name: 'load', description: "Import history through drivers' load() and deliver it to the config's reports" },
  args: {
    conf: { type: 'positional', description: 'the config file, e.g. conf.ini', required: true },
    start: { type: 'string', description: "first day or time to import, in the source's zone unless it has an offset: 2024-01-01, 2024-01-01T06:00, 2024-01-01T14:00Z (default: an hour before --end)" },
    end: { type: 'string', description: 'day or time to stop before, read as --start is, e.g. 2024-02-01 (default: now)' },
    timezone: { type: 'string', alias: 'z', description: "the IANA zone of dates and chunk days, e.g. UTC (default: Properties/Timezone in [/], else America/Los_Angeles)" },
    path: { type: 'string', description: 'only drivers at or below this path, e.g. /caiso' },
    'chunk-hours': { type: 'string', description: 'hours per chunk; 24 (the default) is a calendar day of the zone, 23 or 25 hours when clocks change' },
    'data-dir': { type: 'string', description: 'where progress and outboxes are kept (default: DataDir in [server], else .smap beside the config)' },
    restart: { type: 'boolean', description: 'forget the progress of an earlier run of the same import' },
  },
  async run({ args }) {
    const range = parseRange(args)
    const hours = args['chunk-hours'] === undefined ? 24 : Number(args['chunk-hours'])
    if (!(hours > 0)) throw new UsageError(`--chunk-hours: expected a positive number, got "${args['chunk-hours']}"`)
    if (args.timezone !== undefined) checkTimezone(args.timezone, '--timezone')
    const inst = await load(args.conf, args['data-dir'] === undefined ? {} : { server: { dataDir: resolve(args['data-dir']) } })
    const zone = args.timezone ?? inst.timezone
    let start: number
    let end: number
    try {
      ;({ start, end } = range(zone, Date.now()))
    } catch (err) {
      await inst.stop()
      throw err
    }
    // a day's chunks follow the zone's calendar; other lengths are fixed from --start
    const chunkMs = hours === 24 ? undefined : hours * 3_600_000
    const nominal = hours * 3_600_000
    const abort = new AbortController()
    const onSignal = (): void => abort.abort(new SmapError('SMAP_IMPORT_INTERRUPTED', 'interrupted'))
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)

    const tty = process.stderr.isTTY === true
    const bar = tty
      ? new SingleBar({ format: 'importing [{bar}] {value}/{total} chunks | {readings} readings | {rate}/s | ETA {eta_formatted} | {undelivered} to deliver', stream: process.stderr, hideCursor: true })
      : undefined
    let lastLine = 0
    // where a chunk starts on the zone's clocks, and its length when that is not the usual one (a clock change, a cut end)
    const span = (p: ImportProgress): string => {
      if (p.chunkStart === undefined) return ''
      const ms = (p.chunkEnd ?? p.chunkStart) - p.chunkStart
      return `${formatLocalTime(zone, p.chunkStart)}${ms === nominal ? '' : ` (${+(ms / 3_600_000).toFixed(2)} h)`}`
    }
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
          ? `chunk ${p.chunksDone}/${p.chunks} ${p.driver ?? ''} ${span(p)}: ${p.readings} readings, ${rate}/s, ETA ${duration(eta)}`
          : p.phase === 'deliver'
            ? `delivering: ${p.undelivered} readings not yet acknowledged`
            : `all ${p.readings} readings acknowledged`
      process.stderr.write(`${what}\n`)
    }
    try {
      const result = await importHistory(inst, { start, end, path: args.path, chunkMs, timezone: zone, restart: args.restart === true, signal: abort.signal, onProgress: show })
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
