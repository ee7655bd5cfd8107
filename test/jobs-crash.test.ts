import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SMAP_BIN, start, type Running } from './_process.js'

const RELAY = fileURLToPath(new URL('./fixtures/isolation/relay.js', import.meta.url))
const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

interface ListedJob {
  uuid: string
  Name?: string
  state: string
  reason?: string
  Actions: Array<{ result: string; reached?: unknown }>
}

describe('scheduled jobs across a kill -9', () => {
  let dir: string
  let running: Running | undefined
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'smap-jobs-'))
    await cp(RELAY, join(dir, 'relay.js'))
    await writeFile(join(dir, 'package.json'), '{"type": "module"}')
    await writeFile(join(dir, 'conf.ini'), ['[server]', 'JobGrace = 1000', '', '[/]', `uuid = ${ROOT}`, '', '[/site]', 'type = ./relay.js', 'MinWriteInterval = 0', ''].join('\n'))
  })
  afterEach(async () => {
    running?.child.kill('SIGKILL')
    running = undefined
    await rm(dir, { recursive: true, force: true })
  })

  const run = async (): Promise<string> => {
    running = start(SMAP_BIN, ['run', 'conf.ini', '--port', '0'], { cwd: dir })
    const [, url] = await running.waitFor(/at (http:\/\/127\.0\.0\.1:\d+)\/data/)
    return url as string
  }
  const put = async (url: string, body: unknown): Promise<string[]> => {
    const res = await fetch(`${url}/jobs`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    expect(res.status).toBe(201)
    return (await res.json()) as string[]
  }

  it('runs a job acknowledged just before the kill after the restart, in After order, and marks one whose time passed beyond JobGrace missed', { timeout: 60_000 }, async () => {
    let url = await run()
    const now = Date.now()
    const [on] = await put(url, { Name: 'on', StartTime: now + 3000, Actions: [{ Path: '/site/relay', State: 'on' }] })
    const [off] = await put(url, { Name: 'off', After: 'on', Actions: [{ Path: '/site/relay', State: 'off' }, { Path: '/site/relay', State: 'on' }] })
    const [missed] = await put(url, { Name: 'early', StartTime: now + 500, Actions: [{ Path: '/site/relay', State: 'on' }] })
    // killed at once: nothing ran yet, the jobs were only acknowledged
    running?.child.kill('SIGKILL')
    await running?.exited
    await new Promise((r) => setTimeout(r, 2000)) // "early" is now 1.5 s late, beyond the 1 s grace
    url = await run()
    const list = async (): Promise<ListedJob[]> => (await (await fetch(`${url}/jobs`)).json()) as ListedJob[]
    const end = Date.now() + 20_000
    let jobs = await list()
    while (Date.now() < end && !(jobs.find((j) => j.uuid === off)?.state === 'done')) {
      await new Promise((r) => setTimeout(r, 100))
      jobs = await list()
    }
    expect(jobs.find((j) => j.uuid === missed)).toMatchObject({ state: 'missed' })
    expect(jobs.find((j) => j.uuid === on)).toMatchObject({ state: 'done', Actions: [{ result: 'done', reached: 1 }] })
    expect(jobs.find((j) => j.uuid === off)).toMatchObject({ state: 'done', Actions: [{ result: 'done', reached: 0 }, { result: 'done', reached: 1 }] })
    const relay = JSON.parse(await readFile(join(dir, 'relay-state'), 'utf8')) as { value: number; by: string }
    expect(relay).toEqual({ value: 1, by: `job:job off (${off}), scheduled by 127.0.0.1` })
    // the audit log kept all three writes, across the kill
    const audit = (await readFile(join(dir, '.smap', 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { job?: string; result: string })
    expect(audit.map((a) => [a.job, a.result])).toEqual([[on, 'ok'], [off, 'ok'], [off, 'ok']])
    expect(running?.output()).toContain('missed')
  })
})
