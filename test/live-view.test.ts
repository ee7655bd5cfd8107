// The live view, in a real Chromium: the demo as the README starts it, then a source with
// 10,000 streams, then a client that is not this machine.
import { once } from 'node:events'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { createServer as createHttpServer } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadText, periodic, serve, SmapInstance, type PeriodicJob, type SmapServer } from '@smap/core'
import { createNetns, type Netns } from '../packages/core/test/_netns.js'
import { findChromium, launch } from './_browser.js'
import { SMAP_BIN, start, type Running } from './_process.js'

const found = findChromium()
const CHROMIUM = 'path' in found ? found.path : undefined
if (CHROMIUM === undefined) console.warn(`the live view's browser tests are skipped: ${'missing' in found ? found.missing : ''}`)

/** Screenshots land here for a person to look at (CI keeps the folder as an artifact). */
export const ARTIFACTS = fileURLToPath(new URL('../test-results/', import.meta.url))
const DEMO = fileURLToPath(new URL('../examples/demo/', import.meta.url))
const quiet = { info() {}, warn() {}, error() {} }

async function freePort(): Promise<number> {
  const probe = createServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  const port = (probe.address() as AddressInfo).port
  probe.close()
  return port
}

/** A page on `url` that records every request it makes. */
async function open(browser: Browser, url: string, viewport = { width: 1280, height: 900 }): Promise<{ page: Page; requests: string[] }> {
  const page = await browser.newPage({ viewport })
  const requests: string[] = []
  page.on('request', (r) => requests.push(r.url()))
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(e.message))
  page.on('close', () => expect(errors, 'errors in the page').toEqual([]))
  await page.goto(url)
  return { page, requests }
}

const text = async (page: Page, selector: string): Promise<string> => (await page.locator(selector).first().textContent()) ?? ''

describe.skipIf(CHROMIUM === undefined)('the live view, on the demo (examples/demo/conf.ini)', () => {
  let dir: string
  let source: Running
  let url: string
  let browser: Browser
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-view-'))
    const conf = await readFile(join(DEMO, 'conf.ini'), 'utf8')
    // the demo on a free port, its report to a port where nothing listens (so it fails, as in the quick start)
    await writeFile(join(dir, 'conf.ini'), conf.replace('Port = 8080', 'Port = 0').replace('127.0.0.1:8079', `127.0.0.1:${await freePort()}`))
    await symlink(join(DEMO, 'node_modules'), join(dir, 'node_modules'))
    source = start(SMAP_BIN, ['run', 'conf.ini'], { cwd: dir })
    url = (await source.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/))[1] as string
    browser = await launch(CHROMIUM as string)
  }, 90_000)
  afterAll(async () => {
    await browser?.close()
    source?.child.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  })

  it('is what a browser gets at /, while API clients keep their JSON; every file comes from the source', async () => {
    const api = await fetch(url)
    expect(api.headers.get('content-type')).toMatch(/application\/json/)
    expect(await api.json()).toEqual({ Contents: ['data', 'reports', 'jobs'] })
    const html = await fetch(url, { headers: { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } })
    expect(html.headers.get('content-type')).toMatch(/text\/html/)
    expect(html.headers.get('content-security-policy')).toContain("default-src 'self'")
    expect(html.headers.get('vary')).toContain('Accept')

    const { page, requests } = await open(browser, url)
    await page.locator('li.stream[data-path="/instrument0/sensor0"] .value').filter({ hasText: /V$/ }).waitFor()
    expect(await text(page, 'h1')).toBe('sMAP demo')
    expect(requests.length).toBeGreaterThan(3)
    expect(requests.filter((r) => !r.startsWith(`${url}/`))).toEqual([])
    // what the server ships, compressed as a browser takes it
    let shipped = 0
    for (const file of ['/', '/page/main.js', '/page/main.css']) {
      const res = await fetch(`${url}${file}`, { headers: { Accept: 'text/html', 'Accept-Encoding': 'gzip' } })
      shipped += Number(res.headers.get('content-length'))
      expect(res.status).toBe(200)
    }
    expect(shipped).toBeLessThan(64 * 1024)
    await page.close()
  })

  it('shows the counter change within seconds, with its age, and its chart follows it, full size too', async () => {
    const { page } = await open(browser, url)
    const row = page.locator('li.stream[data-path="/instrument0/sensor0"]')
    await row.locator('.value').filter({ hasText: /V$/ }).waitFor()
    const first = await row.locator('.value').textContent()
    await expect.poll(() => row.locator('.value').textContent(), { timeout: 5000 }).not.toBe(first)
    expect(await row.locator('.age').textContent()).toMatch(/^\d+ s ago$/)
    const points = async (selector: string): Promise<number> => Number(await page.locator(selector).getAttribute('data-points'))
    await expect.poll(() => points('li.stream[data-path="/instrument0/sensor0"] .spark'), { timeout: 5000 }).toBeGreaterThanOrEqual(2)
    const before = await points('li.stream[data-path="/instrument0/sensor0"] .spark')
    await expect.poll(() => points('li.stream[data-path="/instrument0/sensor0"] .spark'), { timeout: 5000 }).toBeGreaterThan(before)
    expect(await row.locator('.spark canvas').count()).toBe(1)

    await row.locator('button.stream-name').click()
    const dialog = page.locator('dialog.detail')
    await dialog.waitFor()
    expect(await text(page, 'dialog.detail h2')).toBe('/instrument0/sensor0')
    await expect.poll(() => text(page, 'dialog.detail .note'), { timeout: 5000 }).toMatch(/readings from the server’s buffer, then live/)
    const full = await points('dialog.detail .plot')
    await expect.poll(() => points('dialog.detail .plot'), { timeout: 5000 }).toBeGreaterThan(full)
    expect(await text(page, 'dialog.detail dl.meta')).toContain('sMAP Implementer Forum') // merged down from /instrument0
    await page.keyboard.press('Escape')
    await dialog.waitFor({ state: 'hidden' })
    await page.close()
  })

  it('writes the setpoint, the mode and the fan, showing the state reached or the error', async () => {
    const { page } = await open(browser, url)
    expect(await text(page, '.access')).toMatch(/Controls are enabled/)
    const setpoint = page.locator('li.stream[data-path="/thermostat/setpoint"]')
    await setpoint.locator('input[type="number"]').fill('24')
    await setpoint.getByRole('button', { name: 'Set', exact: true }).click()
    await setpoint.locator('output.result.ok').filter({ hasText: 'now 24 C' }).waitFor()
    await expect.poll(() => setpoint.locator('.value').textContent()).toBe('24 C')
    const served = (await (await fetch(`${url}/data/thermostat/setpoint`)).json()) as { Readings: Array<[number, number]> }
    expect(served.Readings.at(-1)?.[1]).toBe(24)

    await setpoint.locator('input[type="number"]').fill('35')
    await setpoint.locator('input[type="number"]').press('Enter')
    await setpoint.locator('output.result.error').filter({ hasText: 'from 10 to 30' }).waitFor()

    const mode = page.locator('li.stream[data-path="/thermostat/mode"]')
    await mode.locator('select').selectOption('cool')
    await mode.locator('output.result.ok').filter({ hasText: 'now cool' }).waitFor()
    await expect.poll(() => mode.locator('.value').textContent()).toBe('cool')

    const fan = page.locator('li.stream[data-path="/thermostat/fan"]')
    await fan.locator('input[role="switch"]').check({ force: true })
    await fan.locator('output.result.ok').filter({ hasText: 'now on' }).waitFor()
    const audit = await readFile(join(dir, '.smap', 'audit.jsonl'), 'utf8')
    expect(audit).toContain('/thermostat/setpoint')
    await page.close()
  })

  it('disables a driver (kept on disk, shown in /status) and enables it again; restarts one', async () => {
    const { page } = await open(browser, url)
    const card = page.locator('article.driver[data-driver="/instrument0"]')
    await card.locator('.badge').filter({ hasText: 'running' }).waitFor()
    await card.locator('input[role="switch"]').uncheck({ force: true })
    await card.locator('.badge').filter({ hasText: 'disabled' }).waitFor()
    const status = (await (await fetch(`${url}/status`)).json()) as { drivers: Record<string, { state: string; disabled: boolean }> }
    expect(status.drivers['/instrument0']).toMatchObject({ state: 'disabled', disabled: true })
    expect(await readFile(join(dir, '.smap', 'disabled-drivers.json'), 'utf8')).toContain('/instrument0')
    // its counter stops: the age grows past a second and a half
    await expect.poll(() => text(page, 'li.stream[data-path="/instrument0/sensor0"] .age'), { timeout: 6000 }).toMatch(/^([2-9]|\d\d+) s ago$/)

    await card.locator('input[role="switch"]').check({ force: true })
    await card.locator('.badge').filter({ hasText: 'running' }).waitFor({ timeout: 10_000 })
    expect(((await (await fetch(`${url}/drivers/instrument0`)).json()) as { disabled: boolean }).disabled).toBe(false)

    const thermostat = page.locator('article.driver[data-driver="/thermostat"]')
    await thermostat.getByRole('button', { name: 'Restart' }).click()
    await thermostat.locator('output.result.ok').filter({ hasText: 'restarted' }).waitFor()
    await thermostat.locator('.facts').filter({ hasText: '1 restart ·' }).waitFor()
    await page.close()
  })

  it('works from the keyboard: collections open and close, a stream opens full size and Escape closes it', async () => {
    const { page } = await open(browser, url)
    const twisty = page.locator('li.collection[data-path="/thermostat"] > button.twisty')
    await page.locator('li.stream[data-path="/thermostat/fan"]').waitFor()
    await twisty.focus()
    await page.keyboard.press('Enter')
    await expect.poll(() => page.locator('li.stream[data-path^="/thermostat/"]').count()).toBe(0)
    expect(await twisty.getAttribute('aria-expanded')).toBe('false')
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { className: string } } }).document.activeElement.className)).toBe('twisty')
    await page.keyboard.press('Space')
    await page.locator('li.stream[data-path="/thermostat/fan"]').waitFor()
    await page.keyboard.press('Tab') // to the first stream's name
    await page.keyboard.press('Enter')
    await page.locator('dialog.detail h2').filter({ hasText: '/thermostat/temperature' }).waitFor()
    await page.keyboard.press('Escape')
    await page.locator('dialog.detail').waitFor({ state: 'hidden' })
    await page.close()
  })

  it("shows a failing report's error and backlog, on a phone too; saves a screenshot", async () => {
    const { page } = await open(browser, url)
    const report = page.locator('article.report')
    await report.locator('.last-error').filter({ hasText: 'connection refused (is the receiver running?)' }).waitFor({ timeout: 10_000 })
    expect(await report.locator('.badge').textContent()).toBe('retrying')
    expect(await report.locator('.facts').textContent()).toMatch(/\d+ waiting .* never delivered/)
    await mkdir(ARTIFACTS, { recursive: true })
    await page.locator('li.stream[data-path="/instrument0/sensor0"] .spark canvas').waitFor()
    await page.screenshot({ path: join(ARTIFACTS, 'live-view.png'), fullPage: true })

    const phone = await open(browser, url, { width: 390, height: 844 })
    await phone.page.locator('li.stream[data-path="/thermostat/temperature"] .value').filter({ hasText: /C$/ }).waitFor()
    const width = await phone.page.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth)
    expect(width).toBeLessThanOrEqual(390) // nothing wider than the phone
    // a row keeps its height while values change: nothing jumps
    const height = async (): Promise<number> => (await phone.page.locator('li.stream[data-path="/instrument0/sensor0"]').boundingBox())?.height ?? 0
    const h0 = await height()
    await phone.page.waitForTimeout(2200)
    expect(await height()).toBe(h0)
    await phone.page.screenshot({ path: join(ARTIFACTS, 'live-view-phone.png'), fullPage: true })
    await phone.page.close()
    await page.close()
  })

  // last: it restarts the demo's source
  it('says when the source is away and is live again when it is back, on the same address', async () => {
    const { page } = await open(browser, url)
    await page.locator('.live[data-state="live"]').waitFor()
    source.child.kill('SIGKILL')
    await source.exited
    await page.locator('.live[data-state="down"]').waitFor({ timeout: 10_000 })
    const port = new URL(url).port
    await writeFile(join(dir, 'conf.ini'), (await readFile(join(dir, 'conf.ini'), 'utf8')).replace('Port = 0', `Port = ${port}`))
    source = start(SMAP_BIN, ['run', 'conf.ini'], { cwd: dir })
    await source.waitFor(/at http:\/\/127\.0\.0\.1:\d+\/data/)
    await page.locator('.live[data-state="live"]').waitFor({ timeout: 10_000 })
    const row = page.locator('li.stream[data-path="/instrument0/sensor0"] .value')
    const before = await row.textContent()
    await expect.poll(() => row.textContent(), { timeout: 5000 }).not.toBe(before)
    await page.close()
  })
})

describe.skipIf(CHROMIUM === undefined)('the live view: dead letters', () => {
  let dir: string
  let server: SmapServer
  let job: PeriodicJob
  let browser: Browser
  let receiver: ReturnType<typeof createHttpServer>
  let refuse = true
  let received = 0
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-view-dead-'))
    // a receiver that refuses every batch with a 400 (so it is set aside as a dead letter) until told otherwise
    receiver = createHttpServer((req, res) => {
      req.resume()
      req.on('end', () => {
        if (!refuse) received++
        res.writeHead(refuse ? 400 : 200, { 'Content-Type': 'text/plain' }).end(refuse ? 'bad batch' : 'ok')
      })
    }).listen(0, '127.0.0.1')
    await once(receiver, 'listening')
    const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92', { server: { dataDir: dir }, logger: quiet })
    inst.addTimeseries('/meter', 'meter', 'kW', { readingType: 'double' })
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/add` })
    let n = 0
    job = periodic(() => inst.add('/meter', n++), 0.2)
    server = await serve(inst, { port: 0 })
    browser = await launch(CHROMIUM as string)
  }, 90_000)
  afterAll(async () => {
    await browser?.close()
    await job?.stop()
    await server?.close()
    receiver?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('shows the dead letters and replays them when the receiver takes them again', async () => {
    const { page } = await open(browser, server.url)
    const report = page.locator('article.report')
    await report.locator('.last-error').filter({ hasText: /400/ }).waitFor({ timeout: 10_000 })
    const replay = report.locator('button.replay')
    await replay.filter({ hasText: /^Replay \d+ dead letters?$/ }).waitFor({ timeout: 10_000 })
    refuse = false
    await replay.click()
    await report.locator('output.result.ok').filter({ hasText: /^\d+ queued again$/ }).waitFor()
    await expect.poll(() => received, { timeout: 10_000 }).toBeGreaterThan(0)
    await report.locator('.facts').filter({ hasText: /last delivered \d+ s ago/ }).waitFor({ timeout: 10_000 })
    await page.close()
  })
})

describe.skipIf(CHROMIUM === undefined)('the live view with 10,000 streams', () => {
  let dir: string
  let inst: SmapInstance
  let server: SmapServer
  let job: PeriodicJob
  let browser: Browser
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-view-big-'))
    inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92', { server: { dataDir: dir }, logger: quiet })
    inst.setMetadata('/', { SourceName: 'big' })
    const paths: string[] = []
    for (let c = 0; c < 100; c++) {
      const name = `/meter${String(c).padStart(2, '0')}`
      inst.addCollection(name)
      inst.setMetadata(name, { 'Location/Building': c === 42 ? 'Soda Hall' : 'Cory Hall' })
      for (let s = 0; s < 100; s++) paths.push(inst.addTimeseries(`${name}/p${s}`, `${name}/p${s}`, 'kW', { readingType: 'double' }).path)
    }
    let n = 0
    job = periodic(() => {
      n++
      for (const path of paths) inst.add(path, n + 0.5)
    }, 1)
    server = await serve(inst, { port: 0 })
    browser = await launch(CHROMIUM as string)
  }, 90_000)
  afterAll(async () => {
    await browser?.close()
    await job?.stop()
    await server?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('renders only what is open, follows only that, and filters by metadata', async () => {
    const { page, requests } = await open(browser, server.url)
    await page.locator('li.collection').first().waitFor()
    expect(await text(page, '.top .count')).toBe('10000 streams')
    expect(await page.locator('li.collection').count()).toBe(100)
    expect(await page.locator('li.stream').count()).toBe(0)
    const events = (): string[] => requests.filter((r) => r.includes('/events?'))
    await page.locator('li.collection[data-path="/meter07"] > button.twisty').click()
    await expect.poll(() => page.locator('li.stream').count()).toBe(100)
    await expect.poll(() => events().at(-1), { timeout: 5000 }).toBe(`${server.url}/events?resource=%2Fmeter07`)
    await page.locator('li.stream[data-path="/meter07/p3"] .value').filter({ hasText: /kW$/ }).waitFor({ timeout: 5000 })
    expect(((await (await fetch(`${server.url}/status`)).json()) as { events: { open: number } }).events.open).toBe(1)

    await page.locator('input.filter').fill('soda')
    await page.locator('.matches .summary').filter({ hasText: '100 streams match.' }).waitFor()
    expect(await page.locator('.matches h3').allTextContents()).toEqual(['/meter42'])
    await expect.poll(() => events().at(-1), { timeout: 5000 }).toBe(`${server.url}/events?resource=%2Fmeter42`)
    await page.locator('input.filter').fill('p99')
    await page.locator('.matches .summary').filter({ hasText: '100 streams match.' }).waitFor()
    // one row in each of 100 collections: it follows those 100 streams, not the 10,000 in their collections
    await expect.poll(() => events().at(-1)?.split('&').length, { timeout: 5000 }).toBe(100)
    expect(events().at(-1)).toMatch(/resource=%2Fmeter00%2Fp99&.*resource=%2Fmeter99%2Fp99$/)
    await page.locator('input.filter').fill('kw')
    await page.locator('.matches .summary').filter({ hasText: '10000 streams match; the first 500 are shown' }).waitFor()
    expect(await page.locator('li.stream').count()).toBe(500)
    await expect.poll(() => events().at(-1), { timeout: 5000 }).toMatch(/resource=%2Fmeter00&.*resource=%2Fmeter04$/)
    await page.close()
  })
})

describe.skipIf(CHROMIUM === undefined)('the live view from another machine', () => {
  let dir: string
  let netns: Netns | undefined
  let refused = ''
  let server: SmapServer | undefined
  let browser: Browser | undefined
  const TOKEN = 'view-test-token-5f1c'
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-view-netns-'))
    const made = createNetns(dir)
    if ('refused' in made) {
      refused = made.refused
      return
    }
    netns = made
    process.env.SMAP_TEST_VIEW_TOKEN = TOKEN
    const conf = ['[server]', `Host = ${made.hostIp}`, `DataDir = ${dir}`, '', '[token operator]', 'Secret = env:SMAP_TEST_VIEW_TOKEN', 'Scope = actuate', '', '[/]', 'uuid = 75503ac2-abf0-11e0-b7d6-0026bb56ec92', '', '[/thermostat]', 'type = @smap/example-thermostat', ''].join('\n')
    // the thermostat package is found beside the demo's config
    const inst = await loadText(conf, join(DEMO, 'view-test.ini'), { logger: quiet })
    server = await serve(inst, { port: 0 })
    browser = await launch(CHROMIUM as string, { netns: made.name, dir })
  }, 90_000)
  afterAll(async () => {
    await browser?.close()
    await server?.close()
    netns?.remove()
    delete process.env.SMAP_TEST_VIEW_TOKEN
    await rm(dir, { recursive: true, force: true })
  })

  it('disables the controls saying why, and enables them with a token', { timeout: 40_000 }, async (ctx) => {
    if (!browser || !server) return ctx.skip(refused)
    const { page } = await open(browser, server.url)
    const setpoint = page.locator('li.stream[data-path="/thermostat/setpoint"]')
    await page.locator('.access').filter({ hasText: 'Controls are disabled: equipment can be changed only from this machine or with a bearer token' }).waitFor()
    expect(await setpoint.locator('input[type="number"]').isDisabled()).toBe(true)
    expect(await setpoint.locator('input[type="number"]').getAttribute('title')).toMatch(/only from this machine/)
    expect(await page.locator('article.driver[data-driver="/thermostat"] button.restart').isDisabled()).toBe(true)

    await page.locator('.top details summary').click()
    await page.getByLabel('Bearer token').fill(TOKEN)
    await page.getByRole('button', { name: 'Use token' }).click()
    await page.locator('.access').filter({ hasText: 'Controls are enabled: you may change equipment (token operator)' }).waitFor()
    await setpoint.locator('input[type="number"]').fill('22.5')
    await setpoint.getByRole('button', { name: 'Set', exact: true }).click()
    await setpoint.locator('output.result.ok').filter({ hasText: 'now 22.5 C' }).waitFor()
    expect(await page.content()).not.toContain(TOKEN)
    await page.close()
  })
})
