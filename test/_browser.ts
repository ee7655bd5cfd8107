import { existsSync } from 'node:fs'
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'

// The page's tests drive a real Chromium through playwright-core: Debian's
// `chromium` (which .ci/run installs when missing), or the one SMAP_CHROMIUM names.

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable']

/** Where Chromium is, or why there is none. Under CI a missing browser is an error, not a skip. */
export function findChromium(): { path: string } | { missing: string } {
  const named = process.env.SMAP_CHROMIUM
  if (named) return existsSync(named) ? { path: named } : { missing: `SMAP_CHROMIUM=${named} does not exist` }
  const path = CANDIDATES.find((p) => existsSync(p))
  if (path) return { path }
  const missing = `no Chromium on this machine (looked for ${CANDIDATES.join(', ')}): install Debian's chromium (apt-get install chromium) or set SMAP_CHROMIUM to a Chromium binary`
  if (process.env.CI) throw new Error(`${missing}; .ci/run installs it`)
  return { missing }
}

// headless on a small shared machine: no GPU, no sandbox (the tests run as root), nothing phoning home
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-default-apps', '--mute-audio']

/** Launches Chromium headless; `netns` runs it inside a network namespace (through a wrapper script in `dir`). */
export async function launch(path: string, o: { netns?: string; dir?: string } = {}): Promise<Browser> {
  let executablePath = path
  if (o.netns !== undefined && o.dir !== undefined) {
    executablePath = join(o.dir, 'chromium-in-netns.sh')
    await writeFile(executablePath, `#!/bin/sh\nexec ip netns exec ${o.netns} ${path} "$@"\n`)
    await chmod(executablePath, 0o755)
  }
  return chromium.launch({ executablePath, headless: true, args: ARGS, timeout: 60_000 })
}
