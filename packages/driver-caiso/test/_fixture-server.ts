import { existsSync, readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { strToU8, zipSync } from 'fflate'

/** A fixture file's bytes: test/fixtures/PATH. */
export function fixture(path: string): Buffer {
  return readFileSync(new URL(`./fixtures/${path}`, import.meta.url))
}

export function fixtureExists(path: string): boolean {
  return existsSync(new URL(`./fixtures/${path}`, import.meta.url))
}

/** A ZIP holding one file, as OASIS answers. */
export function zip(name: string, content: string | Uint8Array): Uint8Array {
  return zipSync({ [name]: typeof content === 'string' ? strToU8(content) : content })
}

/** A canned OASIS answer that takes precedence over the data. */
export type OasisOverride = 'throttle-429' | 'throttle-200' | 'invalid-request' | 'no-data'

export interface RecordedRequest {
  path: string
  query: URLSearchParams
  /** Real arrival time (Date.now()). */
  at: number
}

/**
 * A local stand-in for caiso.com/outlook and oasis.caiso.com/oasisapi that
 * serves the recorded fixtures: `/outlook/current/NAME.csv` from
 * fixtures/outlook/`current`/, `/outlook/history/YYYYMMDD/NAME.csv` from
 * fixtures/outlook/history/ or `history` (404 when absent), and `/oasisapi/SingleZip`
 * answering from fixtures/oasis/*.csv by window and node like OASIS does.
 */
export interface FixtureServer {
  outlookUrl: string
  oasisUrl: string
  requests: RecordedRequest[]
  /** Directory under fixtures/outlook/ served as the current files, e.g. `current/20240115T1032`. */
  current: string
  /** OASIS shows only real-time intervals that ended by this time (Unix ms). */
  asOf: number
  /**
   * The recorded prices appear this many ms later (default 0), e.g. to make
   * the recorded 2024-01-15 today for a driver that polls with the real clock.
   */
  oasisShiftMs: number
  /** Answers given before any data, one per request. */
  oasisQueue: OasisOverride[]
  /**
   * Outlook paths answered with this status and an HTML page instead (e.g. a
   * 500, CloudFront's 403 page, or 200 with caiso.com's "page not found").
   */
  failing: Map<string, number>
  /** History files a test made (e.g. with `outlookHistoryDay`), by `YYYYMMDD/NAME.csv`; served before the recorded ones. */
  history: Map<string, string>
  close(): Promise<void>
}

/** The recorded answers, by query and report version (each version has its own column layout). */
const OASIS_FILES: Record<string, string> = { PRC_LMP_v12: 'oasis/PRC_LMP_DAM_v12.csv', PRC_INTVL_LMP_v3: 'oasis/PRC_INTVL_LMP_RTM_v3.csv' }

/** What CloudFront answers for a denied path, and what caiso.com serves with a 200 in place of a missing file. */
function errorPage(status: number): string {
  if (status === 200) {
    return '<!DOCTYPE html>\r\n<html lang="en">\r\n<head>\r\n<meta charset="utf-8">\r\n<title>Page not found | California ISO</title>\r\n</head>\r\n<body>\r\n<h1>Sorry, the page you requested could not be found.</h1>\r\n</body>\r\n</html>\r\n'
  }
  if (status === 403) {
    return '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">\n<HTML><HEAD><META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=iso-8859-1">\n<TITLE>ERROR: The request could not be satisfied</TITLE>\n</HEAD><BODY>\n<H1>403 ERROR</H1>\n<H2>The request could not be satisfied.</H2>\n<HR noshade size="1px">\nRequest blocked.\n</BODY></HTML>'
  }
  return `<!DOCTYPE html><html><body><h1>${status} - Server Error</h1></body></html>`
}

function parseOasisTime(s: string | null): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2}):(\d{2})-0000$/.exec(s ?? '')
  if (!m) return undefined
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]))
}

/** `2024-01-15T08:00:00-00:00`, as OASIS writes times. */
const oasisIso = (t: number): string => new Date(t).toISOString().replace('.000Z', '-00:00')
const pacificDay = new Intl.DateTimeFormat('en-CA', { timeZone: 'America/Los_Angeles', year: 'numeric', month: '2-digit', day: '2-digit' })
/** `2024-01-15`: OPR_DT, the Pacific operating date. */
const pacificDate = (t: number): string => pacificDay.format(t)

export async function startFixtureServer(): Promise<FixtureServer> {
  const state = {
    requests: [] as RecordedRequest[],
    current: 'current/20240115T1032',
    asOf: Infinity,
    oasisShiftMs: 0,
    oasisQueue: [] as OasisOverride[],
    failing: new Map<string, number>(),
    history: new Map<string, string>(),
  }
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    state.requests.push({ path: url.pathname, query: url.searchParams, at: Date.now() })
    const send = (status: number, type: string, body: string | Uint8Array): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) })
      res.end(body)
    }
    const notFound = (): void => send(404, 'text/html', '<!DOCTYPE html><html><body><h1>404 - File or directory not found.</h1></body></html>')

    const failing = state.failing.get(url.pathname)
    if (failing !== undefined) return send(failing, 'text/html', errorPage(failing))

    let m = /^\/outlook\/current\/(\w+\.csv)$/.exec(url.pathname)
    if (m) {
      const path = `outlook/${state.current}/${m[1]}`
      // caiso.com serves the files as application/octet-stream
      return fixtureExists(path) ? send(200, 'application/octet-stream', fixture(path)) : notFound()
    }
    m = /^\/outlook\/history\/(\d{8})\/(\w+\.csv)$/.exec(url.pathname)
    if (m) {
      const made = state.history.get(`${m[1]}/${m[2]}`)
      if (made !== undefined) return send(200, 'application/octet-stream', made)
      const path = `outlook/history/${m[1]}/${m[2]}`
      return fixtureExists(path) ? send(200, 'application/octet-stream', fixture(path)) : notFound()
    }
    if (url.pathname === '/oasisapi/SingleZip') {
      const q = url.searchParams
      const name = `${(q.get('startdatetime') ?? '').slice(0, 8)}_${(q.get('enddatetime') ?? '').slice(0, 8)}_${q.get('queryname')}_${q.get('market_run_id')}_20240115_10_32_04_v${q.get('version')}`
      const override = state.oasisQueue.shift()
      if (override === 'throttle-429') return send(429, 'text/html', fixture('oasis/throttle.html'))
      if (override === 'throttle-200') return send(200, 'text/html', fixture('oasis/throttle.html'))
      if (override === 'no-data') return send(200, 'application/x-zip-compressed', zip(`${name}.xml`, fixture('oasis/no-data.xml')))
      const start = parseOasisTime(q.get('startdatetime'))
      const end = parseOasisTime(q.get('enddatetime'))
      const file = OASIS_FILES[`${q.get('queryname')}_v${q.get('version')}`]
      // OASIS takes a node list of at most 10
      const tooMany = (q.get('node') ?? '').split(',').length > 10
      if (override === 'invalid-request' || tooMany || start === undefined || end === undefined || !(start < end) || end - start > 30 * 86_400_000 || !file || q.get('resultformat') !== '6') {
        return send(200, 'application/x-zip-compressed', zip('INVALID_REQUEST.xml', fixture('oasis/invalid-request.xml')))
      }
      const nodes = new Set((q.get('node') ?? '').split(','))
      const [header, ...rows] = fixture(file).toString('utf8').trimEnd().split('\n')
      const cols = (header as string).split(',')
      const iStart = cols.indexOf('INTERVALSTARTTIME_GMT')
      const iEnd = cols.indexOf('INTERVALENDTIME_GMT')
      const iNode = cols.indexOf('NODE')
      const iDate = cols.indexOf('OPR_DT')
      const shift = state.oasisShiftMs
      const picked = rows
        .map((row) => {
          if (shift === 0) return row
          const c = row.split(',')
          const t = Date.parse(c[iStart] as string) + shift
          c[iStart] = oasisIso(t)
          c[iEnd] = oasisIso(Date.parse(c[iEnd] as string) + shift)
          c[iDate] = pacificDate(t)
          return c.join(',')
        })
        .filter((row) => {
          const c = row.split(',')
          const t = Date.parse(c[iStart] as string)
          // real-time intervals appear once they have ended; day-ahead prices are published in advance
          const published = q.get('queryname') !== 'PRC_INTVL_LMP' || Date.parse(c[iEnd] as string) <= state.asOf
          return t >= start && t < end && published && nodes.has(c[iNode] as string)
        })
      if (picked.length === 0) return send(200, 'application/x-zip-compressed', zip(`${name}.xml`, fixture('oasis/no-data.xml')))
      return send(200, 'application/x-zip-compressed', zip(`${name}.csv`, [header, ...picked].join('\n') + '\n'))
    }
    notFound()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return Object.assign(state, {
    outlookUrl: `${base}/outlook`,
    oasisUrl: `${base}/oasisapi`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  })
}
