import { randomUUID } from 'node:crypto'
import type { Principal } from '@smap/sdk'
import { ActuationError, smapError } from '../errors.js'
import type { Logger } from '../logger.js'
import type { Actuation } from './actuation.js'
import type { JobFile } from './job-file.js'

/** Where a job is in its life. `missed`: its time passed while the source was down, beyond `JobGrace`. */
export type JobState = 'scheduled' | 'running' | 'done' | 'failed' | 'cancelled' | 'missed'

/** One action of a job and what became of it. */
export interface JobAction {
  Path: string
  State: string | number
  result: 'pending' | 'done' | 'failed' | 'skipped'
  /** The state the device reached. */
  reached?: number | string
  error?: string
  /** When it was carried out (Unix ms). */
  time?: number
}

/** A job as `GET /jobs` lists it and the jobs file keeps it. */
export interface Job {
  uuid: string
  Name?: string
  /** Unix ms; none: as soon as it may. */
  StartTime?: number
  /** The name of the job that must be done first. */
  After?: string
  state: JobState
  /** Why it failed, was cancelled or missed. */
  reason?: string
  created: number
  /** Who scheduled it. */
  principal: Principal
  started?: number
  finished?: number
  Actions: JobAction[]
}

/** Default `JobGrace`: how late, after a restart, a job whose time passed still runs. */
export const DEFAULT_JOB_GRACE_MS = 60_000
const MAX_JOBS_PER_REQUEST = 100
const MAX_ACTIONS = 100
const MAX_OPEN_JOBS = 1000
/** Finished jobs kept for `GET /jobs`; older ones are forgotten. */
const KEEP_FINISHED = 500
/** How long an action waits for a driver that is restarting, or a point written just before, before it fails. */
const ACTION_PATIENCE_MS = 30_000
const MAX_TIMER_MS = 3_600_000

const FINISHED: readonly JobState[] = ['done', 'failed', 'cancelled', 'missed']
const JOB_KEYS = new Set(['Name', 'StartTime', 'After', 'Actions'])
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Jobs: lists of writes to carry out in order, at a time (`StartTime`) or
 * after another job is done (`After`). Every action is checked before
 * anything is scheduled; scheduled jobs are on disk before the client hears
 * of them and come back after a restart.
 */
export class Jobs {
  readonly #file: JobFile<Job>
  readonly #actuation: Actuation
  readonly #logger: Logger
  readonly #graceMs: number
  #jobs: Job[] = []
  readonly #cancelled = new Set<string>()
  readonly #running = new Map<string, Promise<void>>()
  #timer: NodeJS.Timeout | undefined
  #started = false

  constructor(file: JobFile<Job>, actuation: Actuation, logger: Logger, graceMs = DEFAULT_JOB_GRACE_MS) {
    this.#file = file
    this.#actuation = actuation
    this.#logger = logger
    this.#graceMs = graceMs
  }

  /** Loads the saved jobs: one that was running when the source stopped failed; one whose time passed beyond the grace was missed. */
  async start(): Promise<void> {
    const { jobs, damaged } = await this.#file.read()
    if (damaged) this.#logger.error(damaged)
    const now = Date.now()
    for (const job of jobs) {
      if (job.state === 'running') {
        const done = job.Actions.filter((a) => a.result === 'done').length
        this.#finish(job, 'failed', `the source stopped while it ran, after ${done} of ${job.Actions.length} actions; the rest were not carried out`)
      } else if (job.state === 'scheduled' && job.StartTime !== undefined && now - job.StartTime > this.#graceMs) {
        this.#finish(job, 'missed', `its time ${new Date(job.StartTime).toISOString()} passed while the source was down, more than JobGrace (${this.#graceMs / 1000} s) ago`)
        this.#logger.warn(`job ${label(job)} missed: ${job.reason}`)
      }
    }
    this.#jobs = jobs
    if (jobs.length > 0) await this.#save()
    this.#started = true
    this.#tick()
  }

  /** Stops scheduling; a job running now ends after its current action and fails, saying so. */
  async stop(): Promise<void> {
    this.#started = false
    clearTimeout(this.#timer)
    for (const uuid of this.#running.keys()) this.#cancelled.add(uuid)
    await Promise.allSettled([...this.#running.values()])
  }

  /** Every job, oldest first. */
  list(): Job[] {
    return this.#jobs.map((j) => structuredClone(j))
  }

  get(uuid: string): Job | undefined {
    const job = this.#jobs.find((j) => j.uuid === uuid.toLowerCase())
    return job && structuredClone(job)
  }

  /** Jobs by state, for `/status`. */
  counts(): Record<JobState, number> {
    const out: Record<JobState, number> = { scheduled: 0, running: 0, done: 0, failed: 0, cancelled: 0, missed: 0 }
    for (const j of this.#jobs) out[j.state]++
    return out
  }

  /**
   * Checks a job or a list of jobs and schedules them; resolves with their
   * uuids once they are on disk. Every problem of every action is told in one
   * error (SMAP_JOB_INVALID), and then nothing is scheduled.
   */
  async submit(body: unknown, principal: Principal): Promise<string[]> {
    const specs = Array.isArray(body) ? body : [body]
    const problems: string[] = []
    if (specs.length === 0) problems.push('no job given: send {"Actions": [{"Path": "/x", "State": "1"}]} or a list of such')
    if (specs.length > MAX_JOBS_PER_REQUEST) problems.push(`at most ${MAX_JOBS_PER_REQUEST} jobs in one request, got ${specs.length}`)
    const open = this.#jobs.filter((j) => !FINISHED.includes(j.state)).length
    if (open + specs.length > MAX_OPEN_JOBS) problems.push(`at most ${MAX_OPEN_JOBS} jobs may wait at once; ${open} do now: cancel some first (DELETE /jobs/UUID)`)
    const now = Date.now()
    const made: Job[] = []
    specs.slice(0, MAX_JOBS_PER_REQUEST).forEach((spec, i) => {
      const where = Array.isArray(body) ? `job ${i}` : 'the job'
      const job = this.#check(spec, where, problems, made, now, principal)
      if (job) made.push(job)
    })
    if (problems.length > 0) throw smapError('SMAP_JOB_INVALID', `nothing was scheduled:\n${problems.map((p) => `- ${p}`).join('\n')}`)
    this.#jobs.push(...made)
    try {
      await this.#save()
    } catch (err) {
      this.#jobs = this.#jobs.filter((j) => !made.includes(j))
      throw smapError('SMAP_JOB_WRITE', `the jobs could not be saved (${(err as Error).message}), so none was scheduled; try again once ${this.#file.file} can be written`, { cause: err })
    }
    for (const job of made) this.#logger.info(`job ${label(job)} scheduled by ${principal.name}: ${job.Actions.length} action${job.Actions.length === 1 ? '' : 's'}${job.StartTime === undefined ? '' : ` at ${new Date(job.StartTime).toISOString()}`}${job.After === undefined ? '' : ` after ${job.After}`}`)
    this.#tick()
    return made.map((j) => j.uuid)
  }

  #check(spec: unknown, where: string, problems: string[], earlier: readonly Job[], now: number, principal: Principal): Job | undefined {
    const before = problems.length
    const bad = (why: string): void => void problems.push(`${where}: ${why}`)
    if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
      bad('expected an object like {"Name": "morning", "StartTime": 1767254400000, "Actions": [{"Path": "/thermostat/setpoint", "State": "21"}]}')
      return undefined
    }
    const s = spec as Record<string, unknown>
    for (const k of Object.keys(s)) if (!JOB_KEYS.has(k)) bad(`unknown field ${JSON.stringify(k)}: a job has Name, StartTime, After and Actions`)
    const name = s.Name
    if (name !== undefined && (typeof name !== 'string' || name.trim() === '' || name.length > 100)) bad('Name must be a non-empty string of at most 100 characters')
    else if (typeof name === 'string' && [...this.#jobs, ...earlier].some((j) => j.Name === name && !FINISHED.includes(j.state))) bad(`a job named ${JSON.stringify(name)} is already waiting; names of waiting jobs are unique, so After can name them`)
    const start = s.StartTime
    if (start !== undefined && (typeof start !== 'number' || !Number.isInteger(start) || start < 0)) bad(`StartTime must be a time in Unix milliseconds, got ${JSON.stringify(start)}`)
    else if (typeof start === 'number' && now - start > this.#graceMs) bad(`StartTime ${start} (${new Date(start).toISOString()}) is in the past; leave it out to run now`)
    else if (typeof start === 'number' && start < 1e11) bad(`StartTime ${start} looks like Unix seconds; give Unix milliseconds (${start * 1000})`)
    const after = s.After
    if (after !== undefined) {
      if (typeof after !== 'string' || after === '') bad('After must be the Name of another job')
      else {
        const target = [...earlier].reverse().find((j) => j.Name === after) ?? this.#latestNamed(after)
        if (!target) bad(`After names ${JSON.stringify(after)}, but no job has that name`)
        else if (target.state !== 'done' && FINISHED.includes(target.state)) bad(`After names ${JSON.stringify(after)}, which ended ${target.state}${target.reason ? ` (${target.reason})` : ''}`)
      }
    }
    const actions = s.Actions
    const out: JobAction[] = []
    if (!Array.isArray(actions) || actions.length === 0) bad('Actions must be a non-empty list of {"Path": "...", "State": ...}')
    else if (actions.length > MAX_ACTIONS) bad(`at most ${MAX_ACTIONS} actions in a job, got ${actions.length}`)
    else {
      actions.forEach((a: unknown, k) => {
        const at = `${where}, action ${k}`
        if (typeof a !== 'object' || a === null || typeof (a as { Path?: unknown }).Path !== 'string' || !['string', 'number', 'boolean'].includes(typeof (a as { State?: unknown }).State)) {
          problems.push(`${at}: expected {"Path": "/path/of/point", "State": "1"}`)
          return
        }
        const { Path, State } = a as { Path: string; State: string | number | boolean }
        try {
          const point = this.#actuation.point(Path)
          point.model.parse(State, point.path)
          out.push({ Path: point.path, State: typeof State === 'boolean' ? String(State) : State, result: 'pending' })
        } catch (err) {
          problems.push(`${at}: ${(err as Error).message}`)
        }
      })
    }
    if (problems.length > before) return undefined
    return {
      uuid: randomUUID(),
      ...(typeof name === 'string' ? { Name: name } : {}),
      ...(typeof start === 'number' ? { StartTime: start } : {}),
      ...(typeof after === 'string' ? { After: after } : {}),
      state: 'scheduled',
      created: now,
      principal,
      Actions: out,
    }
  }

  #latestNamed(name: string): Job | undefined {
    for (let i = this.#jobs.length - 1; i >= 0; i--) if (this.#jobs[i]?.Name === name) return this.#jobs[i]
    return undefined
  }

  /** Cancels a job that has not finished: one waiting never runs, one running stops before its next action. */
  async cancel(uuid: string): Promise<Job> {
    const job = this.#jobs.find((j) => j.uuid === uuid.toLowerCase())
    if (!job) throw smapError('SMAP_JOB_NOT_FOUND', `no job ${uuid}`)
    if (FINISHED.includes(job.state)) throw smapError('SMAP_JOB_FINISHED', `job ${label(job)} has already ended (${job.state}); there is nothing to cancel`)
    if (job.state === 'running') {
      this.#cancelled.add(job.uuid)
      await this.#running.get(job.uuid)
    } else {
      this.#finish(job, 'cancelled', 'cancelled before it ran')
      await this.#save()
      this.#tick()
    }
    return structuredClone(job)
  }

  /** Starts every job that may run now, and sets a timer for the next one. */
  #tick(): void {
    clearTimeout(this.#timer)
    if (!this.#started) return
    const now = Date.now()
    let next = Number.POSITIVE_INFINITY
    let changed = false
    for (const job of this.#jobs) {
      if (job.state !== 'scheduled') continue
      if (job.After !== undefined) {
        const target = this.#latestNamed(job.After)
        if (target && target.state !== 'done' && FINISHED.includes(target.state)) {
          this.#finish(job, 'cancelled', `the job it follows, ${job.After}, ended ${target.state}`)
          changed = true
          continue
        }
        if (!target || target.state !== 'done') continue
      }
      if (job.StartTime !== undefined && job.StartTime > now) {
        next = Math.min(next, job.StartTime)
        continue
      }
      this.#run(job)
    }
    if (changed) void this.#save().catch((err: unknown) => this.#logger.error('cannot save the jobs file', err))
    if (next !== Number.POSITIVE_INFINITY) {
      this.#timer = setTimeout(() => this.#tick(), Math.min(MAX_TIMER_MS, Math.max(0, next - now)))
      this.#timer.unref()
    }
  }

  #run(job: Job): void {
    job.state = 'running'
    job.started = Date.now()
    const run = this.#carryOut(job)
      .catch((err: unknown) => this.#logger.error(`job ${label(job)} failed unexpectedly`, err))
      .finally(() => {
        this.#running.delete(job.uuid)
        this.#cancelled.delete(job.uuid)
        this.#tick()
      })
    this.#running.set(job.uuid, run)
  }

  async #carryOut(job: Job): Promise<void> {
    await this.#save()
    const principal: Principal = { via: 'job', name: `job ${label(job)}, scheduled by ${job.principal.name}`, ...(job.principal.address ? { address: job.principal.address } : {}) }
    for (const [i, action] of job.Actions.entries()) {
      if (this.#cancelled.has(job.uuid)) {
        for (const rest of job.Actions.slice(i)) rest.result = 'skipped'
        this.#finish(job, this.#started ? 'cancelled' : 'failed', this.#started ? `cancelled after ${i} of ${job.Actions.length} actions` : `the source stopped after ${i} of ${job.Actions.length} actions; the rest were not carried out`)
        await this.#save()
        return
      }
      try {
        const result = await this.#attempt(action, principal, job.uuid)
        Object.assign(action, { result: 'done', reached: result, time: Date.now() })
      } catch (err) {
        Object.assign(action, { result: 'failed', error: (err as Error).message, time: Date.now() })
        for (const rest of job.Actions.slice(i + 1)) rest.result = 'skipped'
        this.#finish(job, 'failed', `action ${i} (${action.Path} to ${String(action.State)}) failed: ${(err as Error).message}`)
        this.#logger.warn(`job ${label(job)} failed: ${job.reason}`)
        await this.#save()
        return
      }
      await this.#save()
    }
    this.#finish(job, 'done')
    await this.#save()
  }

  /** One action: it waits out the point's minimum interval, and a driver restarting, up to a limit. */
  async #attempt(action: JobAction, principal: Principal, job: string): Promise<number | string> {
    const until = Date.now() + ACTION_PATIENCE_MS
    for (;;) {
      try {
        const wait = this.#actuation.point(action.Path).waitMs()
        if (wait > 0) await sleep(wait)
        return (await this.#actuation.write(action.Path, action.State, principal, job)).state
      } catch (err) {
        const retry = err instanceof ActuationError && ['SMAP_ACTUATE_TOO_SOON', 'SMAP_ACTUATE_BUSY', 'SMAP_ACTUATE_UNAVAILABLE'].includes(err.code)
        if (!retry || Date.now() >= until || !this.#started) throw err
        await sleep(Math.min(until - Date.now(), Math.max(100, err.retryAfterMs ?? 1000)))
      }
    }
  }

  #finish(job: Job, state: JobState, reason?: string): void {
    job.state = state
    job.finished = Date.now()
    if (reason !== undefined) job.reason = reason
    for (const a of job.Actions) if (a.result === 'pending') a.result = 'skipped'
  }

  #prune(): void {
    const finished = this.#jobs.filter((j) => FINISHED.includes(j.state))
    if (finished.length <= KEEP_FINISHED) return
    const drop = new Set(finished.slice(0, finished.length - KEEP_FINISHED))
    this.#jobs = this.#jobs.filter((j) => !drop.has(j))
  }

  async #save(): Promise<void> {
    this.#prune()
    await this.#file.save(this.#jobs)
  }
}

function label(job: Job): string {
  return job.Name === undefined ? job.uuid : `${job.Name} (${job.uuid})`
}
