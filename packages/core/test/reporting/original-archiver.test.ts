import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inflateSync } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SmapInstance, type ChannelStatus } from '@smap/core'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * The original archiver's /add as far as a source sees it: a body labelled
 * gzip is zlib-decompressed (so real gzip fails with 500), and a batch with
 * a reading that is not a number is a 500 for the whole of it.
 */
function originalArchiver(): Promise<{ url: string; got: number[]; answers: number[]; close: () => Promise<void> }> {
  const got: number[] = []
  const answers: number[] = []
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const answer = (status: number): void => {
        answers.push(status)
        res.writeHead(status).end(status === 200 ? '' : 'Internal Server Error')
      }
      try {
        let body = Buffer.concat(chunks)
        if (req.headers['content-encoding'] === 'gzip') body = inflateSync(body)
        const data = JSON.parse(body.toString() || '{}') as Record<string, { Readings?: Array<[number, unknown]> }>
        const readings = Object.values(data).flatMap((s) => s.Readings ?? [])
        if (readings.some(([, v]) => typeof v !== 'number')) return answer(500)
        got.push(...readings.map(([, v]) => v as number))
        answer(200)
      } catch {
        answer(500)
      }
    })
  })
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/add`, got, answers, close: () => new Promise<void>((r) => server.close(() => r())) }),
    ),
  )
}

describe('delivering to an original sMAP archiver', () => {
  let dir: string
  let inst: SmapInstance
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-archiver-'))
  })
  afterEach(async () => {
    await inst.stop()
    await rm(dir, { recursive: true, force: true })
  })

  const run = async (format: 'gzip-json' | 'legacy-gzip-json', url: string): Promise<void> => {
    inst = new SmapInstance(ROOT, { logger: { info() {}, warn() {}, error() {} }, server: { dataDir: dir, flushInterval: 10, retryBackoff: 100, maxRetryBackoff: 1000 } })
    inst.addTimeseries('/power', { unit: 'kW', readingType: 'double' })
    inst.addTimeseries('/status', { unit: 'text', readingType: 'string' })
    await inst.addReport({ ReportResource: '/+', ReportDeliveryLocation: url, Format: format })
    await inst.start()
    for (let i = 0; i < 30; i++) {
      inst.add('/power', Date.now(), i)
      if (i === 10) inst.add('/status', Date.now(), 'alarm')
    }
    await inst.flush()
  }

  it('with legacy-gzip-json every number arrives, and the string it refuses is set aside instead of stalling the rest', async () => {
    const archiver = await originalArchiver()
    try {
      await run('legacy-gzip-json', archiver.url)
      const end = Date.now() + 15_000
      while (archiver.got.length < 30 && Date.now() < end) await sleep(20)
      expect([...new Set(archiver.got)].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i))
      while (Date.now() < end && ((Object.values((await inst.status()).reports)[0]?.channels[0] as ChannelStatus).deadLettered ?? 0) < 1) await sleep(20)
      expect((Object.values((await inst.status()).reports)[0]?.channels[0] as ChannelStatus).deadLettered).toBe(1)
    } finally {
      await archiver.close()
    }
  })

  it('with RFC gzip (gzip-json) it can decode nothing: every POST is a 500, and nothing is lost or dead-lettered', async () => {
    const archiver = await originalArchiver()
    try {
      await run('gzip-json', archiver.url)
      await sleep(1500)
      expect(archiver.got).toEqual([])
      expect(archiver.answers.length).toBeGreaterThan(2)
      expect(archiver.answers.every((s) => s === 500)).toBe(true)
      const c = Object.values((await inst.status()).reports)[0]?.channels[0] as ChannelStatus
      expect([c.deadLettered, c.backlogReadings]).toEqual([0, 31])
    } finally {
      await archiver.close()
    }
  })
})
