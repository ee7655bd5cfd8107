// The source side of bench/soak.ts: the generator driver (written out as a JS
// module beside the config), and `smap run CONF` as a child process that the
// soak starts, reads /status from, kill -9s and restarts.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { ChannelStatus } from '@smap/core'

export const SMAP_BIN = fileURLToPath(new URL('../packages/cli/bin/smap.js', import.meta.url))

/**
 * The generator: STREAMS streams at /s0.., each given one reading per slot of
 * PERIOD ms, stamped slot * PERIOD with the slot number as its value, so the
 * sequence continues across restarts with no state. Before adding a slot's
 * readings it journals them on stdout (`soak-gen FIRST LAST`, a synchronous
 * write to a pipe), so the soak knows exactly what each run generated. A
 * stalled tick catches up on the slots it missed. Once the file SOAK_GEN_STOP
 * exists it adds nothing more and says `soak-gen stopped LAST`.
 */
export const GENERATOR_JS = `// written by bench/soak.ts
import { existsSync } from 'node:fs'

const STREAMS = Number(process.env.SOAK_STREAMS)
const PERIOD = Number(process.env.SOAK_PERIOD_MS)
const STOP = process.env.SOAK_GEN_STOP
// module scope, so that a restart of the driver by its host goes on from here
let last
let stopped = false

export default {
  name: 'soak-gen',
  description: 'one reading per stream per slot, value = slot number',
  setup(ctx) {
    for (let i = 0; i < STREAMS; i++) ctx.addTimeseries('/s' + i, 's' + i, 'count')
  },
  start(ctx) {
    last ??= Math.floor(Date.now() / PERIOD) - 1
    ctx.periodic(() => {
      if (stopped) return
      if (STOP && existsSync(STOP)) {
        stopped = true
        process.stdout.write('soak-gen stopped ' + last + '\\n')
        return
      }
      const now = Math.floor(Date.now() / PERIOD)
      if (now <= last) return
      process.stdout.write('soak-gen ' + (last + 1) + ' ' + now + '\\n')
      for (let s = last + 1; s <= now; s++) for (let i = 0; i < STREAMS; i++) ctx.add('/s' + i, s * PERIOD, s)
      last = now
    }, PERIOD / 1000)
  },
}
`

/** A driver whose poll never yields, for the worker-isolation part of the soak. */
export const BUSY_JS = `// written by bench/soak.ts
export default {
  name: 'soak-busy',
  setup(ctx) {
    ctx.addTimeseries('/spin', 'spin', 'count')
  },
  start(ctx) {
    ctx.periodic(() => {
      while (true) {}
    }, 1)
  },
}
`

/** The fields of a subscription channel's /status line the soak reads. */
/** A report's channel as /status shows it. */
export type ChannelSample = ChannelStatus

export interface DriverSample {
  state: string
  restarts: number
  lastError: unknown
}

export interface StatusSample {
  at: number
  ms: number
  channel: ChannelSample
  drivers: Record<string, DriverSample>
}

export type RunEnd = 'kill -9' | 'SIGTERM' | 'exited by itself' | 'did not start'

/** One `smap run` process. */
export class Run {
  readonly n: number
  readonly child: ChildProcess
  readonly startedAt = Date.now()
  url: string | undefined
  servingAt: number | undefined
  endedAt: number | undefined
  end: RunEnd | undefined
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  /** Slot ranges the generator journaled, merged: [first, last] inclusive. */
  readonly ranges: Array<[number, number]> = []
  genStopped = false
  /** The last /status of this run, and its first (what it restored). */
  lastStatus: StatusSample | undefined
  firstStatus: StatusSample | undefined
  readonly stderrTail: string[] = []
  /** Warnings and errors it logged, by message with numbers blanked. */
  readonly logged = new Map<string, number>()
  readonly closed: Promise<void>
  readonly serving: Promise<boolean>

  constructor(n: number, child: ChildProcess) {
    this.n = n
    this.child = child
    let resolveServing: (ok: boolean) => void = () => {}
    this.serving = new Promise((r) => (resolveServing = r))
    lines(child.stdout, (line) => {
      const m = /^soak-gen (\d+) (\d+)$/.exec(line)
      if (m) this.#generated(Number(m[1]), Number(m[2]))
      else if (line.startsWith('soak-gen stopped')) this.genStopped = true
    })
    lines(child.stderr, (line) => {
      this.stderrTail.push(line)
      if (this.stderrTail.length > 300) this.stderrTail.shift()
      const m = /^\[smap\] (warning|error): (.*)$/.exec(line)
      if (m) {
        const text = (m[2] as string)
          .replace(/\S*\/smap-soak-[^/\s]+/g, '$TMP')
          .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
          .replace(/\d+/g, '#')
        const key = `${m[1]}: ${text}`
        this.logged.set(key, (this.logged.get(key) ?? 0) + 1)
      }
      const s = / at (http:\/\/127\.0\.0\.1:\d+)\/data /.exec(line)
      if (s && this.url === undefined) {
        this.url = s[1]
        this.servingAt = Date.now()
        resolveServing(true)
      }
    })
    this.closed = new Promise((resolve) => {
      child.once('close', (code, signal) => {
        this.exit = { code, signal }
        this.endedAt ??= Date.now()
        resolveServing(false)
        resolve()
      })
    })
  }

  get alive(): boolean {
    return this.exit === undefined
  }

  get pid(): number {
    return this.child.pid as number
  }

  #generated(first: number, last: number): void {
    const prev = this.ranges[this.ranges.length - 1]
    if (prev && prev[1] + 1 === first) prev[1] = last
    else this.ranges.push([first, last])
  }

  /** /status of the source, its one subscription's channel; undefined if it does not answer within `timeoutMs`. */
  async status(timeoutMs = 3000): Promise<StatusSample | undefined> {
    if (this.url === undefined || !this.alive) return undefined
    const t = performance.now()
    try {
      const res = await fetch(`${this.url}/status`, { signal: AbortSignal.timeout(timeoutMs) })
      const body = (await res.json()) as { reports: Record<string, { channels: ChannelSample[] }>; drivers: Record<string, DriverSample> }
      const channel = Object.values(body.reports)[0]?.channels[0]
      if (!channel) return undefined
      const sample = { at: Date.now(), ms: performance.now() - t, channel, drivers: body.drivers }
      this.firstStatus ??= sample
      this.lastStatus = sample
      return sample
    } catch {
      return undefined
    }
  }

  /** VmRSS of the process in KiB, from /proc. */
  async rssKiB(): Promise<number | undefined> {
    if (!this.alive) return undefined
    const text = await readFile(`/proc/${this.pid}/status`, 'utf8').catch(() => '')
    const m = /^VmRSS:\s+(\d+) kB/m.exec(text)
    return m ? Number(m[1]) : undefined
  }
}

function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let rest = ''
  stream?.setEncoding('utf8')
  stream?.on('data', (d: string) => {
    const parts = (rest + d).split('\n')
    rest = parts.pop() as string
    for (const p of parts) onLine(p)
  })
  stream?.on('end', () => {
    if (rest !== '') onLine(rest)
  })
}

/**
 * Starts, kills and restarts `smap run CONF`, one at a time. A run that ends
 * without being told to is restarted at once (after a second), and noted.
 */
export class Source {
  readonly runs: Run[] = []
  current: Run | undefined
  readonly #args: string[]
  readonly #cwd: string
  readonly #env: NodeJS.ProcessEnv
  readonly #log: (line: string) => void
  #lock: Promise<unknown> = Promise.resolve()
  #closing = false
  /** Called with a run that exited by itself (after it ended). */
  onUnexpectedEnd: ((run: Run) => void) | undefined

  constructor(conf: string, cwd: string, env: NodeJS.ProcessEnv, log: (line: string) => void) {
    this.#args = [SMAP_BIN, 'run', conf, '--port', '0']
    this.#cwd = cwd
    this.#env = env
    this.#log = log
  }

  #serially<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#lock.then(fn, fn)
    this.#lock = next.catch(() => {})
    return next
  }

  #spawn(): Run {
    const child = spawn(process.execPath, this.#args, { cwd: this.#cwd, env: { ...process.env, NO_COLOR: '1', ...this.#env }, stdio: ['ignore', 'pipe', 'pipe'] })
    const run = new Run(this.runs.length, child)
    this.runs.push(run)
    this.current = run
    void run.closed.then(() => {
      if (run.end !== undefined || this.#closing) return
      run.end = run.servingAt === undefined ? 'did not start' : 'exited by itself'
      this.#log(`run ${run.n} (pid ${run.pid}) ${run.end}: code ${run.exit?.code}, signal ${run.exit?.signal}; last lines: ${run.stderrTail.slice(-3).join(' | ')}`)
      this.onUnexpectedEnd?.(run)
    })
    return run
  }

  /** Until a run is serving (starting one, again every second while they fail), or `deadline` passes. */
  ensureUp(deadline: number): Promise<Run | undefined> {
    return this.#serially(async () => {
      for (;;) {
        if (this.#closing) return undefined
        const cur = this.current
        if (cur?.alive && cur.servingAt !== undefined) return cur
        if (cur?.alive) {
          if (await Promise.race([cur.serving, cur.closed.then(() => false)])) return cur
        } else {
          const run = this.#spawn()
          const ok = await Promise.race([run.serving, new Promise<boolean>((r) => setTimeout(() => r(false), 60_000))])
          if (ok) {
            this.#log(`run ${run.n} (pid ${run.pid}) serving at ${run.url} after ${((run.servingAt as number) - run.startedAt) / 1000} s`)
            return run
          }
          if (run.alive) {
            this.#log(`run ${run.n} (pid ${run.pid}) not serving after 60 s; killing it`)
            run.end = 'did not start'
            run.child.kill('SIGKILL')
          }
          await run.closed
        }
        if (Date.now() > deadline || this.#closing) return undefined
        await new Promise((r) => setTimeout(r, 1000))
      }
    })
  }

  /** kill -9 of the current run, after `before` (a last /status); resolves once it is gone. */
  kill9(before: (run: Run) => Promise<void>): Promise<Run | undefined> {
    return this.#serially(async () => {
      const run = this.current
      if (!run?.alive) return undefined
      await before(run)
      if (!run.alive) return undefined
      run.end = 'kill -9'
      run.endedAt = Date.now()
      run.child.kill('SIGKILL')
      await run.closed
      return run
    })
  }

  /** SIGTERM to the current run: how long it took to exit (or undefined if not within `limitMs`, then it is killed). */
  term(limitMs: number): Promise<{ ms: number | undefined; run: Run } | undefined> {
    return this.#serially(async () => {
      const run = this.current
      if (!run?.alive) return undefined
      run.end = 'SIGTERM'
      const t = Date.now()
      run.child.kill('SIGTERM')
      const exited = await Promise.race([run.closed.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), limitMs))])
      const ms = exited ? Date.now() - t : undefined
      run.endedAt = t
      if (!exited) {
        run.child.kill('SIGKILL')
        await run.closed
      }
      return { ms, run }
    })
  }

  /** Kills whatever runs (cleanup); waits up to 5 s for it to go. */
  async close(): Promise<void> {
    this.#closing = true
    const run = this.current
    if (run?.alive) {
      run.end ??= 'kill -9'
      run.child.kill('SIGKILL')
      await Promise.race([run.closed, new Promise((r) => setTimeout(r, 5000))])
    }
  }
}
