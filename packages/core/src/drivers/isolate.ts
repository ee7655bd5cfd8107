import { Worker } from 'node:worker_threads'
import type { ActuatorHandle, DriverContext, DriverDefinition, DriverJob, Principal } from '@smap/sdk'
import type { ContextCall, FromWorker, ToWorker, WorkerStart } from './worker-protocol.js'

/** Where the driver module is, for a worker to import it. */
export interface DriverModule {
  url: string
  exportName: string
}

/** Limits of a driver's worker thread. */
export interface IsolationOptions {
  /** Its heap, MB (default 128): a driver that allocates beyond it is terminated and restarted. */
  memoryMb?: number
  /** How long its event loop may stop answering before it is terminated, ms (default 5 s). */
  stallMs?: number
  /** How long its stop may take before the thread is terminated anyway, ms (default 5 s). */
  stopMs?: number
}

/** An error from the worker, as its message and stack crossed over. */
const revive = (e: { message: string; stack?: string }): Error => Object.assign(new Error(e.message), { stack: e.stack ?? e.message })

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())

/** The worker entry: built beside index.js; run from source (this repository's tests), it is loaded through tsx. */
const FROM_SOURCE = import.meta.url.endsWith('.ts')
const ENTRY = FROM_SOURCE
  ? `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./worker-entry.ts', import.meta.url).href)}) })`
  : new URL('./worker-entry.js', import.meta.url)

/**
 * `definition` run in a worker thread of its own (`Isolation = worker`): its
 * setup, start, stop, load and polls are carried out there, and what it does
 * to its context is applied here. A busy loop (no answer for `stallMs`), a
 * heap beyond `memoryMb` or a crash of the thread fails the driver like a
 * throw would, so the host restarts it with backoff, in a new thread, while
 * the server and the other drivers go on.
 */
/** What the driver instance gives the isolation: its state to start from, and where a failure outside any call goes. */
export interface IsolationHost {
  state(): Record<string, unknown>
  /** The thread failed, or the driver did something its context refused, while no call was waiting. */
  fault(err: Error): void
  /** A new thread ran the driver's setup again: the section's metadata goes over what it set. */
  setUpAgain(): void
}

export function isolate(definition: DriverDefinition, module: DriverModule, options: IsolationOptions, host: IsolationHost): DriverDefinition {
  let link: WorkerLink | undefined
  // bumped by every stop: a thread being opened when the driver stops is not started after it
  let stops = 0
  // a new thread runs the driver's setup there, then what was asked; the tree here is kept across restarts
  const open = async (ctx: DriverContext, opts: unknown): Promise<WorkerLink> => {
    const epoch = stops
    await link?.close()
    if (epoch !== stops) throw new Error('the driver was stopped while its worker thread was being replaced')
    const l = new WorkerLink(ctx, module, options, (err) => host.fault(err))
    link = l
    try {
      await l.call({ t: 'call', id: 0, what: 'setup', options: opts, state: host.state() })
    } catch (err) {
      await l.close()
      if (link === l) link = undefined
      throw err
    }
    return l
  }
  const live = async (ctx: DriverContext, opts: unknown): Promise<WorkerLink> => {
    if (link && !link.faulted) return link
    const l = await open(ctx, opts)
    host.setUpAgain()
    return l
  }
  return {
    name: definition.name,
    ...(definition.description === undefined ? {} : { description: definition.description }),
    ...(definition.options === undefined ? {} : { options: definition.options }),
    async setup(ctx, opts) {
      await open(ctx, opts)
    },
    // after a failure the host runs start again, not setup (its streams are still in the tree)
    async start(ctx, opts) {
      await (await live(ctx, opts)).call({ t: 'call', id: 0, what: 'start', options: opts })
    },
    async stop() {
      stops++
      const l = link
      link = undefined
      if (!l) return
      try {
        // a stop that never ends must not keep the thread: it is terminated after the host's own deadline
        if (!l.faulted) await Promise.race([l.call({ t: 'call', id: 0, what: 'stop' }), delay(options.stopMs ?? 5000)])
      } finally {
        await l.close()
      }
    },
    ...(definition.load === undefined
      ? {}
      : {
          async load(ctx, range, opts) {
            await (await live(ctx, opts)).call({ t: 'call', id: 0, what: 'load', options: opts, range })
          },
        }),
  }
}

/** One worker thread and the calls waiting for its answers. */
class WorkerLink {
  readonly #ctx: DriverContext
  readonly #worker: Worker
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (err: Error) => void }>()
  readonly #points = new Map<string, ActuatorHandle>()
  readonly #jobs = new Map<number, DriverJob>()
  readonly #watch: NodeJS.Timeout
  #nextId = 1
  #lastHeard = Date.now()
  #fault: Error | undefined
  #closing = false

  /** Whether the thread failed: it answers nothing more. */
  get faulted(): boolean {
    return this.#fault !== undefined || this.#closing
  }

  readonly #onFault: (err: Error) => void

  constructor(ctx: DriverContext, module: DriverModule, options: IsolationOptions, onFault: (err: Error) => void) {
    this.#ctx = ctx
    this.#onFault = onFault
    const data: WorkerStart = { url: module.url, exportName: module.exportName, path: ctx.path, namespace: ctx.namespace }
    this.#worker = new Worker(ENTRY, {
      workerData: data,
      resourceLimits: { maxOldGenerationSizeMb: options.memoryMb ?? 128 },
      eval: FROM_SOURCE,
      stdout: false,
      stderr: false,
    })
    this.#worker.on('message', (m: FromWorker) => {
      this.#lastHeard = Date.now()
      if (m.t === 'batch') for (const call of m.calls) this.#apply(call)
    })
    this.#worker.on('error', (err) => this.#fail(new Error(`its worker thread failed: ${err.message}`, { cause: err })))
    this.#worker.on('exit', (code) => {
      if (!this.#closing) this.#fail(new Error(`its worker thread exited (code ${code})`))
    })
    const stallMs = options.stallMs ?? 5000
    this.#watch = setInterval(() => {
      if (Date.now() - this.#lastHeard < stallMs) return
      this.#fail(new Error(`its worker thread stopped answering for ${stallMs / 1000} s (a busy loop?) and was terminated`))
      void this.#worker.terminate()
    }, Math.min(1000, stallMs))
    this.#watch.unref()
    const abort = (): void => this.#post({ t: 'abort' })
    ctx.signal.addEventListener('abort', abort, { once: true })
  }

  /** Sends a call and waits for its answer; rejects if the thread fails first. */
  call(m: Exclude<ToWorker, { t: 'abort' | 'cancel' }>, signal?: AbortSignal): Promise<unknown> {
    if (this.#fault) return Promise.reject(this.#fault)
    // a call after close would never be answered: it would hold its caller (and its deadline's timer) forever
    if (this.#closing) return Promise.reject(new Error('its worker thread was stopped'))
    const id = this.#nextId++
    return new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#post({ ...m, id } as ToWorker)
      signal?.addEventListener('abort', () => this.#post({ t: 'cancel', id }), { once: true })
    })
  }

  #post(m: ToWorker): void {
    if (this.#fault || this.#closing) return
    this.#worker.postMessage(m)
  }

  /** Fails what is waiting (a poll, say: the host restarts the driver), and what is asked from now on. */
  #fail(err: Error): void {
    if (this.#fault || this.#closing) return
    this.#fault = err
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
    this.#onFault(err) // also when nothing was waiting: a thread that dies between polls
  }

  /** Applies one context call of the driver; one that fails (a bad reading, say) fails the call it belongs to. */
  #apply(c: ContextCall): void {
    const ctx = this.#ctx
    try {
      if (c.t === 'done') {
        const p = this.#pending.get(c.id)
        this.#pending.delete(c.id)
        if (c.error === undefined) p?.resolve(c.value)
        else p?.reject(revive(c.error))
      } else if (c.t === 'add') {
        ctx.add(c.path, c.time, c.value)
      } else if (c.t === 'ts') ctx.addTimeseries(c.path, c.options)
      else if (c.t === 'coll') ctx.addCollection(c.path, c.options)
      else if (c.t === 'actuator') {
        const path = c.path
        const device = (what: 'write' | 'read', signal: AbortSignal, value?: number | string, principal?: Principal): Promise<unknown> =>
          this.call({ t: 'device', id: 0, path, what, ...(value === undefined ? {} : { value }), ...(principal === undefined ? {} : { principal }) }, signal)
        this.#points.set(path, ctx.addActuator(path, {
          ...c.options,
          write: (value, { signal, principal }) => device('write', signal, value, principal),
          ...(c.read ? { read: (signal: AbortSignal) => device('read', signal) } : {}),
        }))
      } else if (c.t === 'report') this.#points.get(c.path)?.report(c.value)
      else if (c.t === 'meta') ctx.setMetadata(c.path, c.metadata)
      else if (c.t === 'health') ctx.setHealth(c.health)
      else if (c.t === 'log') ctx.logger[c.level](c.message, c.error && revive(c.error))
      else if (c.t === 'state') ctx.state.set(c.key, c.value)
      else if (c.t === 'periodic') this.#jobs.set(c.job, ctx.periodic(() => this.call({ t: 'run', id: 0, job: c.job }), c.seconds, c.options))
      else void this.#jobs.get(c.job)?.stop()
    } catch (err) {
      // the driver did something its context refuses: the run it did it in fails with that, or, outside any, the driver
      if (this.#pending.size === 0) this.#onFault(err as Error)
      for (const p of this.#pending.values()) p.reject(err as Error)
      this.#pending.clear()
    }
  }

  /** Ends the thread. */
  async close(): Promise<void> {
    this.#closing = true
    clearInterval(this.#watch)
    for (const p of this.#pending.values()) p.reject(new Error('its worker thread was stopped'))
    this.#pending.clear()
    await this.#worker.terminate()
  }
}
