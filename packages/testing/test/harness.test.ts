import { describe, expect, it } from 'vitest'
import { defineDriver, uuid5, z } from '@smap/sdk'
import { createHarness } from '@smap/testing'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

const counter = defineDriver({
  name: 'counter',
  options: z.object({ Rate: z.coerce.number().positive().default(1), StartVal: z.coerce.number().int().default(0) }),
  setup(ctx) {
    ctx.addTimeseries('/sensor0', 'mysensor', 'V')
    ctx.setMetadata('/', { Instrument: { Manufacturer: 'sMAP Implementer Forum' } })
  },
  start(ctx, opts) {
    let n = opts.StartVal
    ctx.periodic(() => ctx.add('/sensor0', n++), opts.Rate)
  },
})

describe('createHarness', () => {
  it('runs a driver on a controllable clock and records its readings', async () => {
    const h = await createHarness(counter, { Rate: '2', StartVal: '5' }, { now: 1_000_000 })
    expect(h.options).toEqual({ Rate: 2, StartVal: 5 })
    await h.start()
    await h.advance(6)
    expect(h.readings('/sensor0')).toEqual([
      [1_000_000, 5],
      [1_002_000, 6],
      [1_004_000, 7],
      [1_006_000, 8],
    ])
    expect(h.metadata('/')).toEqual({ Instrument: { Manufacturer: 'sMAP Implementer Forum' } })
    await h.stop()
    await h.advance(10)
    expect(h.readings('/sensor0')).toHaveLength(4)
  })

  it('gives streams the uuids the host would', async () => {
    const atRoot = await createHarness(counter, {}, { root: ROOT })
    expect(atRoot.get('/sensor0')?.uuid).toBe(uuid5(uuid5(ROOT, '/'), 'mysensor'))
    const attached = await createHarness(counter, {}, { root: ROOT, path: '/instrument0' })
    expect(attached.get('/sensor0')).toMatchObject({ fullPath: '/instrument0/sensor0', uuid: 'bc94dc3f-1231-54a6-b6b6-2e9bb8c01eb3', unit: 'V' })
  })

  it('refuses bad options with the message the host would give', async () => {
    await expect(createHarness(counter, { Rate: '-1' })).rejects.toThrow('invalid options for driver counter: Rate: Too small: expected number to be >0, got "-1"')
  })

  it('applies the host rules: reading types, unknown paths, repeated keys', async () => {
    const h = await createHarness(
      defineDriver({
        name: 'strict',
        setup(ctx) {
          ctx.addTimeseries('/a', 'k', 'V')
          expect(() => ctx.addTimeseries('/b', 'k', 'V')).toThrow('timeseries /b: key "k" is already used by /a; keys must be unique in a driver')
          expect(() => ctx.add('/a', 1.5)).toThrow('cannot add 1.5 to /a: its ReadingType is long (a whole number)')
          expect(() => ctx.add('/nope', 1)).toThrow('no resource at /nope')
        },
      }),
    )
    expect(h.timeseries().map((t) => t.path)).toEqual(['/a'])
  })

  it('records a failing or overrunning poll as an error and keeps the schedule', async () => {
    let n = 0
    const h = await createHarness(
      defineDriver({
        name: 'flaky',
        setup(ctx) {
          ctx.addTimeseries('/v', 'v', 'V')
        },
        start(ctx) {
          ctx.periodic(() => {
            if (++n === 2) throw new Error('timeout talking to meter')
            ctx.add('/v', n)
          }, 1)
        },
      }),
    )
    await h.start()
    await h.advance(2)
    expect(h.errors.map((e) => e.message)).toEqual(['timeout talking to meter'])
    expect(h.readings('/v').map(([, v]) => v)).toEqual([1, 3])
  })

  it('carries ctx.state from one harness to the next, as a restart would', async () => {
    const resumable = defineDriver({
      name: 'resumable',
      setup(ctx) {
        ctx.addTimeseries('/n', 'n', 'count')
      },
      start(ctx) {
        const from = ctx.state.get<number>('next') ?? 0
        ctx.add('/n', from)
        ctx.state.set('next', from + 1)
      },
    })
    const first = await createHarness(resumable)
    await first.start()
    const second = await createHarness(resumable, {}, { state: first.state() })
    await second.start()
    expect(second.readings('/n').map(([, v]) => v)).toEqual([1])
    expect(second.state()).toEqual({ next: 2 })
  })

  it('fires the abort signal on stop and calls the driver stop', async () => {
    let stopped = false
    const h = await createHarness(defineDriver({ name: 's', setup() {}, stop: () => void (stopped = true) }))
    const signal = h.ctx.signal
    await h.stop()
    expect(signal.aborted).toBe(true)
    expect(stopped).toBe(true)
  })
})

describe('the host rules the harness runs on', () => {
  it('restarts a driver whose poll keeps failing, with backoff, and rests it after 5 failures in 10 minutes, as smap run does', async () => {
    let starts = 0
    const h = await createHarness(
      defineDriver({
        name: 'broken',
        setup(ctx) {
          ctx.addTimeseries('/v', 'v', 'V')
        },
        start(ctx) {
          starts++
          ctx.periodic(() => {
            throw new Error('meter not answering')
          }, 1)
        },
      }),
    )
    await h.start()
    expect(h.errors).toHaveLength(1)
    await h.advance(590)
    expect(h.errors.map((e) => e.message)).toEqual(Array(5).fill('meter not answering'))
    // the first start and four restarts (a restart runs start again, setup once), then it rests 10 minutes
    expect(starts).toBe(5)
    await h.advance(3600)
    expect(starts).toBeGreaterThan(5)
  })

  it('stamps readings added without a time with the harness clock', async () => {
    const h = await createHarness(counter, {}, { now: 5_000 })
    await h.start()
    expect(h.readings('/sensor0')).toEqual([[5_000, 0]])
    expect(h.ctx.now()).toBe(5_000)
  })
})

describe('a driver after its crash limit', () => {
  it('rests for 10 minutes and is tried again, so a device that comes back is read again', async () => {
    let up = false
    const h = await createHarness(
      defineDriver({
        name: 'flappy',
        setup(ctx) {
          ctx.addTimeseries('/v', 'v', 'V')
        },
        start(ctx) {
          ctx.periodic(() => {
            if (!up) throw new Error('meter not answering')
            ctx.add('/v', 1)
          }, 1)
        },
      }),
    )
    await h.start()
    await h.advance(60)
    expect(h.errors).toHaveLength(5)
    up = true
    await h.advance(9 * 60)
    expect(h.readings('/v')).toEqual([])
    await h.advance(60)
    expect(h.readings('/v').length).toBeGreaterThan(0)
  })
})
