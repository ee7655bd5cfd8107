import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { expect, it } from 'vitest'
import { SmapInstance, type Logger } from '../../src/index.js'

const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/isolation/review', import.meta.url))
const lines: string[] = []
const logger: Logger = { info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m) => void lines.push(m) }
it('a reading added in a worker is stamped when it was added', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smap-iso-stamp-'))
  const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92', { logger, server: { dataDir: dir } })
  const url = pathToFileURL(`${FIXTURES}/stamp.js`).href
  inst.addDriver('/s', (await import(url)).default, {}, { ref: './stamp.js', isolation: { module: { url, exportName: 'default' } } })
  await inst.start()
  await new Promise((r) => setTimeout(r, 4000))
  const added = Number(/added at (\d+)/.exec(lines.join('\n'))?.[1])
  const stamped = inst.getTimeseries('/s/v')?.readings[0]?.[0] as number
  await inst.stop(); await rm(dir, { recursive: true, force: true })
  expect(stamped - added).toBeLessThan(100)
})
