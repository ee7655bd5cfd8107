// The thread a driver runs in under `Isolation = worker`: it imports the
// driver module and gives it a context whose every call is sent to the main
// thread, which applies it to the real tree (see isolate.ts).
import { parentPort, workerData } from 'node:worker_threads'
import type { DriverActuatorOptions, DriverContext, DriverDefinition, DriverTimeseriesOptions, ReadingValue } from '@smap/sdk'
import { uuid5 } from '../tree/identity.js'
import { normalizePath, pathBelow } from '../tree/path.js'
import type { ContextCall, ToWorker, WorkerStart } from './worker-protocol.js'

const start = workerData as WorkerStart
const port = parentPort as NonNullable<typeof parentPort>
let queue: ContextCall[] = []
let scheduled = false
const send = (call: ContextCall): void => {
  queue.push(call)
  if (scheduled) return
  scheduled = true
  setImmediate(() => {
    scheduled = false
    const calls = queue
    queue = []
    port.postMessage({ t: 'batch', calls })
  })
}
setInterval(() => port.postMessage({ t: 'beat' }), 1000)

const describe = (err: unknown): { message: string; stack?: string } => (err instanceof Error ? { message: err.message, stack: err.stack } : { message: String(err) })
const controller = new AbortController()
let state: Record<string, unknown> = {}
const jobs = new Map<number, (signal: AbortSignal) => unknown>()
let lastJob = 0
// actuator points' functions, by the path the driver gave; device calls in flight, to cancel
const points = new Map<string, Pick<DriverActuatorOptions, 'write' | 'read'>>()
const deviceCalls = new Map<number, AbortController>()
// stamped here, when the driver added them, not when the main thread applies them
const addNow = (path: string, a: number | ReadingValue, b: ReadingValue | undefined): void =>
  send(b === undefined ? { t: 'add', path, time: Date.now(), value: a } : { t: 'add', path, time: a as number, value: b })

const ctx: DriverContext = {
  path: start.path,
  namespace: start.namespace,
  signal: controller.signal,
  logger: {
    info: (message) => send({ t: 'log', level: 'info', message: String(message) }),
    warn: (message) => send({ t: 'log', level: 'warn', message: String(message) }),
    error: (message, error) => send({ t: 'log', level: 'error', message: String(message), ...(error === undefined ? {} : { error: describe(error) }) }),
  },
  state: {
    get: <T>(key: string) => structuredClone(state[key]) as T | undefined,
    set: (key: string, value: unknown) => {
      state[key] = JSON.parse(JSON.stringify(value)) as unknown
      send({ t: 'state', key, value: state[key] })
    },
  },
  now: () => Date.now(),
  uuid: (key) => uuid5(start.namespace, key),
  addTimeseries(path: string, keyOrOptions: string | DriverTimeseriesOptions, unit?: string, more?: Omit<DriverTimeseriesOptions, 'unit' | 'key'>) {
    const options: DriverTimeseriesOptions = typeof keyOrOptions === 'string' ? { ...more, key: keyOrOptions, unit: unit as string } : keyOrOptions
    send({ t: 'ts', path, options })
    const key = options.key ?? normalizePath(path)
    return {
      path: pathBelow(start.path, normalizePath(path)),
      uuid: uuid5(start.namespace, key),
      add: (a: number | ReadingValue, b?: ReadingValue) => addNow(path, a, b),
    }
  },
  addActuator(path, options) {
    const { write, read, ...rest } = options
    points.set(path, { write, read })
    send({ t: 'actuator', path, options: rest, read: typeof read === 'function' })
    const key = options.key ?? normalizePath(path)
    return {
      path: pathBelow(start.path, normalizePath(path)),
      uuid: uuid5(start.namespace, key),
      report: (value) => send({ t: 'report', path, value }),
    }
  },
  addCollection: (path, options) => send({ t: 'coll', path, options }),
  setMetadata: (path, metadata) => send({ t: 'meta', path, metadata }),
  add: (path: string, a: number | ReadingValue, b?: ReadingValue) => addNow(path, a, b),
  setHealth: (health) => send({ t: 'health', health }),
  periodic(fn, seconds, options = {}) {
    const job = ++lastJob
    jobs.set(job, fn)
    send({ t: 'periodic', job, seconds, options })
    return {
      stop: async () => {
        jobs.delete(job)
        send({ t: 'unperiodic', job })
      },
    }
  },
}

const definition = (async (): Promise<DriverDefinition> => {
  const mod = (await import(start.url)) as Record<string, unknown>
  return mod[start.exportName] as DriverDefinition
})()

async function handle(m: Exclude<ToWorker, { t: 'abort' | 'cancel' }>): Promise<unknown> {
  const def = await definition
  if (m.t === 'device') {
    const point = points.get(m.path)
    const controller = new AbortController()
    deviceCalls.set(m.id, controller)
    try {
      if (m.what === 'write') return await point?.write(m.value as number | string, { signal: controller.signal, principal: m.principal as NonNullable<typeof m.principal> })
      return await point?.read?.(controller.signal)
    } finally {
      deviceCalls.delete(m.id)
    }
  }
  if (m.t === 'run') {
    await jobs.get(m.job)?.(controller.signal) // a job stopped meanwhile: nothing to do
    return
  }
  if (m.what === 'load') await def.load?.(ctx, m.range, m.options)
  else if (m.what === 'setup') {
    state = m.state ?? {}
    await def.setup(ctx, m.options)
  } else if (m.what === 'start') await def.start?.(ctx, m.options)
  else await def.stop?.(ctx)
}

port.on('message', (m: ToWorker) => {
  if (m.t === 'abort') {
    controller.abort(new Error(`driver ${start.path} stopped; its work in progress was aborted`))
    return
  }
  if (m.t === 'cancel') {
    deviceCalls.get(m.id)?.abort(new Error('the call was cancelled: its deadline passed, or the driver stopped'))
    return
  }
  handle(m).then(
    (value) => send({ t: 'done', id: m.id, ...(m.t === 'device' && value !== undefined ? { value } : {}) }),
    (err: unknown) => send({ t: 'done', id: m.id, error: describe(err) }),
  )
})
