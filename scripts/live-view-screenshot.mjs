// Takes the README's picture of the live view (docs/live-view.png) from a running demo:
//   npm run demo   (in another terminal; let it run a minute so the charts have a history)
//   node scripts/live-view-screenshot.mjs [URL] [OUT]
// It needs Chromium (Debian's chromium, or SMAP_CHROMIUM=/path/to/chrome).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const url = process.argv[2] ?? 'http://127.0.0.1:8080/'
const out = process.argv[3] ?? fileURLToPath(new globalThis.URL('../docs/live-view.png', import.meta.url))
const executablePath = process.env.SMAP_CHROMIUM ?? ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p))
if (!executablePath) throw new Error('no Chromium found: install chromium or set SMAP_CHROMIUM')
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'] })
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 640 }, deviceScaleFactor: 1 })
  await page.goto(url)
  await page.locator('li.stream .spark canvas').first().waitFor()
  // a minute of readings, so each chart has a line
  await page.waitForTimeout(Number(process.env.WAIT_MS ?? 60_000))
  await page.screenshot({ path: out })
  console.log(`wrote ${out}`)
} finally {
  await browser.close()
}
