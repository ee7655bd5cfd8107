// What the live view costs the server: a real page in a real Chromium, 10,000
// streams at 1 Hz, the server's CPU per second with no page open, one page
// just loaded (all collections closed), one page with one collection open (100
// streams live), one page with a filter typed (500 rows in 5 collections; then
// 100 rows spread over all 100 collections, which the page follows one by
// one), three pages with a collection open, and for reference one plain
// event-stream client following everything (as in bench/events.ts), against the
// no-page baseline measured in the same run. Also the one-off cost of loading
// the page (GET /data/+ and the rest, from goto until the collections show) and
// the sizes of the files the server ships for it. Prints, asserts nothing.
// Run from the repository root: npx tsx --conditions=@smap/source bench/page.ts
//
// The server runs alone in a child process; Chromium (headless, through
// playwright-core: Debian's chromium, or the one SMAP_CHROMIUM names) and this
// process are not measured. The bytes a page took on its event stream are
// counted through the DevTools protocol (Network.dataReceived), its JS heap is
// read from performance.memory; both are for information.
import { setTimeout as sleep } from 'node:timers/promises'
import { gzipSync } from 'node:zlib'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { findChromium } from '../test/_browser.js'
import { median, rotate } from './_stats.js'
import { startStreamsServer } from './_streams-server.js'

const COLLECTIONS = 100
const PER_COLLECTION = 100
const STREAMS = COLLECTIONS * PER_COLLECTION
/** After a page loaded, before its first round: the big GET /data/+ and its garbage are behind us. */
const LOAD_SETTLE_MS = 2500
/** After the view changed (the page reconnects its event stream 250 ms later), or a client opened. */
const SETTLE_MS = 1500
const ROUND_MS = 4000
const ROUNDS = 3
/** The collection a page opens; a filter that shows 500 rows (every stream matches, the first 500 are shown); one that shows 100 rows in 100 collections. */
const OPEN = '/b7'
const FILTER_500 = '/b'
const FILTER_SPREAD = '/s99'
/** Headless on a small shared machine; precise memory info, else performance.memory is coarse and seldom updated. */
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run', '--enable-precise-memory-info']

/** Waits until `ok()` holds, checking every 50 ms. */
async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = performance.now() + timeoutMs
  while (!(await ok())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(50)
  }
}

/** Something that takes bytes from the server's event stream: a page, or a plain client. */
interface Client {
  /** Body bytes taken on event streams so far. */
  eventBytes: number
  /** What it follows now, as the query of its latest GET /events, decoded (`resource=/b7`). */
  follows: string
  close(): Promise<void>
}

/** A page in its own browser context (no shared cache or connections), its event-stream traffic counted. */
interface Tab extends Client {
  page: Page
  /** GET /events requests the page made so far. */
  opened: number
  /** Other requests it made so far (GET /data/+, /access, /status, its files). */
  requests: number
  errors: string[]
}

async function openTab(browser: Browser): Promise<Tab> {
  const context: BrowserContext = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const tab: Tab = { page, eventBytes: 0, follows: '', opened: 0, requests: 0, errors: [], close: () => context.close() }
  page.on('pageerror', (e) => tab.errors.push(e.message))
  const cdp = await context.newCDPSession(page)
  const streams = new Set<string>()
  cdp.on('Network.requestWillBeSent', (e) => {
    const u = new URL(e.request.url)
    if (u.pathname !== '/events') {
      tab.requests++
      return
    }
    streams.add(e.requestId)
    tab.opened++
    tab.follows = decodeURIComponent(u.search.slice(1))
  })
  cdp.on('Network.dataReceived', (e) => {
    if (streams.has(e.requestId)) tab.eventBytes += e.dataLength
  })
  await cdp.send('Network.enable')
  return tab
}

/** Loads the page in each tab at once: goto until the collections show, and the first event stream is open. */
async function load(tabs: Tab[], url: string): Promise<void> {
  await Promise.all(
    tabs.map(async (t) => {
      await t.page.goto(url)
      await t.page.locator('li.collection').first().waitFor({ timeout: 30_000 })
    }),
  )
}

/** Does `act` in the page, then waits for `shown` and for the page to open its event stream again. */
async function change(tab: Tab, what: string, act: () => Promise<void>, shown: () => Promise<unknown>): Promise<void> {
  const opened = tab.opened
  await act()
  await shown()
  await until(`${what}: the page reconnecting its event stream`, () => tab.opened > opened)
}

async function openCollection(tab: Tab): Promise<void> {
  await change(
    tab,
    `opening ${OPEN}`,
    () => tab.page.locator(`li.collection[data-path="${OPEN}"] > button.twisty`).click(),
    () => tab.page.locator('li.stream').nth(PER_COLLECTION - 1).waitFor(),
  )
}

async function typeFilter(tab: Tab, text: string, summary: string): Promise<void> {
  await change(
    tab,
    `filtering by ${text}`,
    () => tab.page.locator('input.filter').fill(text),
    () => tab.page.locator('.matches .summary').filter({ hasText: summary }).waitFor(),
  )
}

/** A plain client, as in bench/events.ts: fetch and a streaming body reader that counts every byte. */
async function follow(url: string, resource: string): Promise<Client> {
  const abort = new AbortController()
  const res = await fetch(`${url}/events?resource=${encodeURIComponent(resource)}`, { signal: abort.signal })
  if (res.status !== 200 || !res.body) throw new Error(`GET /events?resource=${resource}: ${res.status} ${await res.text()}`)
  const reader = res.body.getReader()
  const out: Client = { eventBytes: 0, follows: `resource=${resource}`, close: async () => {} }
  const done = (async () => {
    try {
      for (;;) {
        const { done: end, value } = await reader.read()
        if (end) break
        out.eventBytes += value.byteLength
      }
    } catch {
      // closed by us
    }
  })()
  out.close = async () => {
    abort.abort()
    await done
  }
  return out
}

/** What one round of one setting measured. */
interface Sample {
  /** The server's CPU, seconds per second. */
  cpu: number
  /** Event-stream bytes per second, per client. */
  bytes: number
  /** JS heap per page, bytes (NaN without pages). */
  heap: number
  rows: number
  follows: string
  /** Event streams the server has open (/status), after the round. */
  open: number
  /** Pages or plain clients measured. */
  clients: number
  /** Requests other than GET /events per page, over the round. */
  requests: number
}

interface Load {
  wallMs: number
  cpuMs: number
}

const SETTINGS = [
  'no page',
  '1 page, closed',
  `1 page, ${OPEN} open`,
  `1 page, filter ${FILTER_500}`,
  `1 page, filter ${FILTER_SPREAD}`,
  `3 pages, ${OPEN} open`,
  'plain client, /+',
] as const
type Setting = (typeof SETTINGS)[number]

const kib = (bytes: number): string => (bytes >= 10 * 1024 ? `${(bytes / 1024).toFixed(0)} KiB` : `${bytes.toFixed(0)} B`)
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

async function sizes(url: string): Promise<string> {
  const parts: string[] = []
  let raw = 0
  let gz = 0
  const length = async (path: string, encoding: string): Promise<number> => {
    const res = await fetch(`${url}${path}`, { headers: { Accept: 'text/html', 'Accept-Encoding': encoding } })
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`)
    return Number(res.headers.get('content-length'))
  }
  for (const path of ['/', '/page/main.js', '/page/main.css']) {
    const r = await length(path, 'identity')
    const g = await length(path, 'gzip')
    raw += r
    gz += g
    parts.push(`${path} ${r} B (gzip ${g} B)`)
  }
  const data = await fetch(`${url}/data/+`, { headers: { Accept: 'application/json', 'Accept-Encoding': 'gzip' } })
  const body = await data.arrayBuffer()
  const encoding = data.headers.get('content-encoding')
  // what gzip would make of it, computed here when the server sends it as it is
  const gzipped = encoding === null ? `, ${kib(gzipSync(Buffer.from(body)).byteLength)} gzipped here` : ''
  return `${parts.join(', ')}; together ${raw} B (gzip ${gz} B); then GET /data/+ ${kib(body.byteLength)} ${encoding ?? `not compressed though asked for gzip${gzipped}`}`
}

async function main(): Promise<void> {
  const start = performance.now()
  const found = findChromium()
  if (!('path' in found)) {
    console.log(`page: skipped, ${found.missing}`)
    return
  }
  const server = await startStreamsServer(COLLECTIONS, PER_COLLECTION)
  let browser: Browser | undefined
  const clients = new Set<Client>()
  const closeAll = async (): Promise<void> => {
    await Promise.all([...clients].map((c) => c.close().catch(() => {})))
    clients.clear()
  }
  try {
    const { url } = server
    browser = await chromium.launch({ executablePath: found.path, headless: true, args: ARGS, timeout: 60_000 })
    console.log(`page: ${STREAMS} streams at 1 Hz in ${COLLECTIONS} collections; ${ROUNDS} rounds of ${ROUND_MS / 1000} s per setting, ${LOAD_SETTLE_MS / 1000} s after a page loaded and ${SETTLE_MS / 1000} s after its view changed; the server in its own process, Chromium ${browser.version()} headless`)
    // (this also has the server read and gzip the page's files, once, before anything is measured)
    console.log(`shipped for the page: ${await sizes(url)}`)

    const samples = new Map<Setting, Sample[]>(SETTINGS.map((s) => [s, []]))
    const loads = new Map<string, Load[]>([['1 page', []], ['3 pages at once', []]])
    const errors: string[] = []

    const measure = async (setting: Setting, measured: Client[], pages: Tab[]): Promise<string> => {
      const bytes0 = measured.map((c) => c.eventBytes)
      const requests0 = pages.reduce((sum, t) => sum + t.requests, 0)
      const before = await server.usage()
      await sleep(ROUND_MS)
      const after = await server.usage()
      const requests = pages.length === 0 ? 0 : (pages.reduce((sum, t) => sum + t.requests, 0) - requests0) / pages.length
      const seconds = (after.at - before.at) / 1000
      const cpu = (after.micros - before.micros) / 1e6 / seconds
      const bytes = measured.length === 0 ? 0 : measured.reduce((sum, c, i) => sum + c.eventBytes - (bytes0[i] as number), 0) / measured.length / seconds
      const heaps = await Promise.all(pages.map((t) => t.page.evaluate(() => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? Number.NaN)))
      const first = pages[0]
      const rows = first === undefined ? 0 : await first.page.locator('li.stream').count()
      const status = (await (await fetch(`${url}/status`)).json()) as { events: { open: number } }
      samples.get(setting)?.push({
        cpu,
        bytes,
        heap: heaps.length === 0 ? Number.NaN : heaps.reduce((a, b) => a + b, 0) / heaps.length,
        rows,
        follows: [...new Set(measured.map((c) => c.follows))].join(' | ') || '-',
        open: status.events.open,
        clients: measured.length,
        requests,
      })
      return `${setting} ${(cpu * 1000).toFixed(0)}`
    }

    const loadPages = async (n: number): Promise<Tab[]> => {
      const tabs = await Promise.all(Array.from({ length: n }, () => openTab(browser as Browser)))
      for (const t of tabs) clients.add(t)
      const before = await server.usage()
      const t0 = performance.now()
      await load(tabs, url)
      const wallMs = performance.now() - t0
      const after = await server.usage()
      loads.get(n === 1 ? '1 page' : `${n} pages at once`)?.push({ wallMs, cpuMs: (after.micros - before.micros) / 1000 })
      // the first event stream (resource=/, nothing on screen) opens right after the tree is drawn
      await Promise.all(tabs.map((t) => until('the first event stream', () => t.opened > 0)))
      await sleep(LOAD_SETTLE_MS)
      return tabs
    }
    const done = async (tabs: Tab[]): Promise<void> => {
      for (const t of tabs) errors.push(...t.errors)
      await closeAll()
    }

    // four blocks, each from a fresh start; each round in another order
    const blocks: Array<() => Promise<string[]>> = [
      async () => {
        // a little longer: what the clients before left (their garbage, closing sockets) is behind us
        await sleep(LOAD_SETTLE_MS)
        return [await measure('no page', [], [])]
      },
      async () => {
        const out: string[] = []
        const [tab] = (await loadPages(1)) as [Tab]
        out.push(await measure('1 page, closed', [tab], [tab]))
        await openCollection(tab)
        await sleep(SETTLE_MS)
        out.push(await measure(`1 page, ${OPEN} open`, [tab], [tab]))
        await typeFilter(tab, FILTER_500, `${STREAMS} streams match; the first 500 are shown`)
        await sleep(SETTLE_MS)
        out.push(await measure(`1 page, filter ${FILTER_500}`, [tab], [tab]))
        await typeFilter(tab, FILTER_SPREAD, `${COLLECTIONS} streams match.`)
        await sleep(SETTLE_MS)
        out.push(await measure(`1 page, filter ${FILTER_SPREAD}`, [tab], [tab]))
        await done([tab])
        return out
      },
      async () => {
        const tabs = await loadPages(3)
        await Promise.all(tabs.map((t) => openCollection(t)))
        await sleep(SETTLE_MS)
        const out = [await measure(`3 pages, ${OPEN} open`, tabs, tabs)]
        await done(tabs)
        return out
      },
      async () => {
        const c = await follow(url, '/+')
        clients.add(c)
        await sleep(SETTLE_MS)
        const out = [await measure('plain client, /+', [c], [])]
        await closeAll()
        return out
      },
    ]
    const t0 = performance.now()
    for (let round = 0; round < ROUNDS; round++) {
      const parts: string[] = []
      for (const block of rotate(blocks, round)) parts.push(...(await block()))
      console.log(`  round ${round + 1} (ms CPU/s): ${parts.join('; ')}`)
    }

    const base = median((samples.get('no page') ?? []).map((s) => s.cpu))
    console.log(`the page's load, goto until the collections show (median of rounds; the server's CPU over that time, and above the baseline):`)
    for (const [name, list] of loads) {
      const wall = median(list.map((l) => l.wallMs))
      const cpuMs = median(list.map((l) => l.cpuMs))
      console.log(`  ${name.padEnd(16)} ${wall.toFixed(0).padStart(5)} ms wall, ${cpuMs.toFixed(0).padStart(5)} ms server CPU, ${(cpuMs - base * wall).toFixed(0).padStart(5)} ms above the baseline`)
    }
    console.log('server CPU per second (median of rounds), against the no-page baseline; per client: event-stream bytes/s, JS heap, rows shown, other requests in the round; what it follows:')
    for (const setting of SETTINGS) {
      const list = samples.get(setting) ?? []
      const m = median(list.map((s) => s.cpu))
      const last = list[list.length - 1] as Sample
      const head = `  ${setting.padEnd(22)} ${(m * 1000).toFixed(0).padStart(4)} ms CPU/s (${(m * 100).toFixed(1)}% of a core), ${(m / base).toFixed(2)}x baseline`
      if (setting === 'no page') {
        console.log(`${head}; ${last.open} event streams open`)
        continue
      }
      const heap = median(list.map((s) => s.heap))
      const extra = [
        `${m >= base ? '+' : ''}${((m - base) * 1000).toFixed(0)} ms/s${last.clients > 1 ? ` (${((m - base) * 1000 / last.clients).toFixed(1)} per page)` : ''}`,
        `${kib(median(list.map((s) => s.bytes)))}/s`,
        ...(Number.isNaN(heap) ? [] : [`heap ${mib(heap)}`, `${last.rows} rows`, `${median(list.map((s) => s.requests))} other requests`]),
        `${last.open} open`,
        `follows ${last.follows.length > 80 ? `${last.follows.slice(0, 77)}...` : last.follows}`,
      ]
      console.log(`${head}; ${extra.join(', ')}`)
    }
    console.log(`(${((performance.now() - start) / 1000).toFixed(0)} s in all, ${((performance.now() - t0) / 1000).toFixed(0)} s of rounds)`)
    if (errors.length > 0) console.log(`errors in the page: ${[...new Set(errors)].join('; ')}`)
  } finally {
    await closeAll()
    await browser?.close().catch(() => {})
    server.stop()
  }
}

await main()
