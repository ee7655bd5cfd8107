// Readings/s through SmapInstance.add, Timeseries.add and a driver's ctx.add, against a plain JS
// ring buffer of [time, value] pairs measured in the same run.
// Run from the repository root: npx tsx --conditions=@smap/source bench/add.ts
import { SmapInstance, type Timeseries } from '@smap/core'
import { defineDriver, type DriverContext } from '@smap/sdk'
import { formatRate, formatRatio, median, rotate } from './_stats.js'

const STREAMS = 100
const WARMUP_ROUNDS = 3
const ROUNDS = 9
const ROUND_MS = 250
const BATCH = 100_000
const TARGET = 0.3

const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92')
const paths: string[] = []
const series: Timeseries[] = []
for (let i = 0; i < STREAMS; i++) {
  const path = `/instrument${i % 10}/sensor${i}`
  paths.push(path)
  series.push(inst.addTimeseries(path, `sensor${i}`, 'V'))
}

// The same number of streams made by a driver attached at /meter, added to through its context.
let driverCtx: DriverContext | undefined
const driverPaths = Array.from({ length: STREAMS }, (_, i) => `/elt-${i % 10}/s${i}`)
inst.addDriver(
  '/meter',
  defineDriver({
    name: 'bench',
    setup(ctx) {
      driverCtx = ctx
      for (const [i, p] of driverPaths.entries()) ctx.addTimeseries(p, `s${i}`, 'V')
    },
  }),
)
await inst.start()

// One slot per stream, as the instance keeps bufferSize 1 for each; a pair is allocated per reading.
const ring: [number, number][] = new Array<[number, number]>(STREAMS)

let value = 0

function ringAdd(n: number): void {
  let p = 0
  for (let k = 0; k < n; k++) {
    ring[p] = [Date.now(), value++]
    if (++p === STREAMS) p = 0
  }
}

function instAdd(n: number): void {
  let p = 0
  for (let k = 0; k < n; k++) {
    inst.add(paths[p] as string, value++)
    if (++p === STREAMS) p = 0
  }
}

function ctxAdd(n: number): void {
  const ctx = driverCtx as DriverContext
  let p = 0
  for (let k = 0; k < n; k++) {
    ctx.add(driverPaths[p] as string, value++)
    if (++p === STREAMS) p = 0
  }
}

function tsAdd(n: number): void {
  let p = 0
  for (let k = 0; k < n; k++) {
    ;(series[p] as Timeseries).add(value++)
    if (++p === STREAMS) p = 0
  }
}

interface Subject {
  name: string
  run: (n: number) => void
  rates: number[]
}

const baseline: Subject = { name: 'ring buffer', run: ringAdd, rates: [] }
const viaInstance: Subject = { name: 'inst.add', run: instAdd, rates: [] }
const viaSeries: Subject = { name: 'ts.add', run: tsAdd, rates: [] }
const viaDriver: Subject = { name: 'ctx.add', run: ctxAdd, rates: [] }
const subjects = [baseline, viaInstance, viaSeries, viaDriver]

/** Readings per second over one round of at least `ms` milliseconds. */
function measure(s: Subject, ms: number): number {
  let done = 0
  const start = performance.now()
  let elapsed = 0
  do {
    s.run(BATCH)
    done += BATCH
    elapsed = performance.now() - start
  } while (elapsed < ms)
  return (done / elapsed) * 1000
}

for (let r = 0; r < WARMUP_ROUNDS; r++) for (const s of rotate(subjects, r)) measure(s, ROUND_MS)
for (let r = 0; r < ROUNDS; r++) for (const s of rotate(subjects, r)) s.rates.push(measure(s, ROUND_MS))

// Each reading must have landed, or the figures measure nothing.
const last = value - 1
const landed = [...inst.timeseries()].some((ts) => ts.latest?.[1] === last) || ring.some((pair) => pair[1] === last)
if (!landed) {
  console.error(`add: the last value ${last} is in neither the instance nor the ring buffer; the benchmark is broken`)
  process.exit(1)
}

/** Median over rounds of subject/baseline, each pair measured back to back. */
function pairedRatio(s: Subject): number {
  return median(s.rates.map((rate, i) => rate / (baseline.rates[i] as number)))
}

const spread = (s: Subject): string => `${formatRate(Math.min(...s.rates))}-${formatRate(Math.max(...s.rates))}`
console.log(
  `add: ${STREAMS} timeseries (readingType long, bufferSize 1), ${ROUNDS} interleaved rounds of ${ROUND_MS} ms after ${WARMUP_ROUNDS} warm-up; medians (range):`,
)
for (const s of subjects) console.log(`  ${s.name}: ${formatRate(median(s.rates))} readings/s (${spread(s)})`)
const ringFigure = `ring buffer: ${formatRate(median(baseline.rates))}/s`
console.log(`inst.add: ${formatRate(median(viaInstance.rates))} readings/s; ${ringFigure}; ratio ${formatRatio(pairedRatio(viaInstance), TARGET)}`)
console.log(`ts.add: ${formatRate(median(viaSeries.rates))} readings/s; ${ringFigure}; ratio ${formatRatio(pairedRatio(viaSeries))}`)
console.log(`ctx.add (a driver's): ${formatRate(median(viaDriver.rates))} readings/s; ${ringFigure}; ratio ${formatRatio(pairedRatio(viaDriver))}`)
await inst.stop()
