import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { createServer } from 'node:http'
import { SmapInstance, type Logger } from '../../src/index.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

it('MaxOutboxBytes holds while the oldest outbox has only its batch on loan', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'smap-cap-loan-'))
  const cap = 1024 * 1024
  let posts = 0
  const srv = createServer((req, res) => { req.resume(); req.on('end', () => { posts++; res.statusCode = posts === 1 ? 200 : 503; res.end() }) })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))
  const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/add`
  const inst = new SmapInstance(ROOT, { logger: quiet, server: { dataDir: dir, flushInterval: 10, maxOutboxBytes: cap, retryBackoff: 5, maxRetryBackoff: 20 } })
  try {
    inst.addTimeseries('/a', 'a', 'W')
    inst.addTimeseries('/b', 'b', 'W')
    await inst.addReport({ uuid: '11111111-1111-4111-8111-111111111111', ReportResource: '/a', ReportDeliveryLocation: url, MaxBuffer: 1_000_000 })
    await inst.addReport({ uuid: '22222222-2222-4222-8222-222222222222', ReportResource: '/b', ReportDeliveryLocation: 'http://127.0.0.1:9/add', MaxBuffer: 1_000_000 })
    await inst.start()
    const t0 = 1_700_000_000_000
    for (let n = 0; n < 10; n++) inst.add('/a', t0 + n, n) // A: one small batch, on loan to its retrying delivery
    await inst.flush()
    await sleep(200)
    for (let round = 0; round < 40; round++) {
      for (let k = 0; k < 2500; k++) inst.add('/b', t0 + round * 2500 + k, round * 2500 + k)
      await sleep(20)
    }
    await inst.flush()
    // the last write seals B's segment, which is then rewritten as fewer chunks: while that runs its chunks
    // cannot be dropped (a loaded machine takes a while), and the next tick applies the cap
    let total = Number.POSITIVE_INFINITY
    for (let waited = 0; waited < 5000 && total > cap; waited += 100) {
      await sleep(100)
      const chans = Object.values((await inst.status()).reports).map((r) => r.channels[0]!)
      total = chans.reduce((s, c) => s + c.backlogBytes, 0)
    }
    expect(total).toBeLessThanOrEqual(cap)
  } finally {
    await inst.stop()
    srv.close()
    await rm(dir, { recursive: true, force: true })
  }
})
