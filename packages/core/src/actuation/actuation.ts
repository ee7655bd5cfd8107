import type { Principal } from '@smap/sdk'
import { httpStatus, smapError, SmapError } from '../errors.js'
import type { ActuatorPoint, WriteResult } from '../drivers/actuator-point.js'
import { normalizePath } from '../tree/path.js'
import type { TreeView } from '../tree/tree.js'
import type { AuditEntry, AuditLog } from './audit.js'

/**
 * Where every write passes, from a client or a job: the point is found (a
 * path that is no actuator is refused), the write is carried out, and the
 * attempt goes to the audit log whatever its outcome.
 */
export class Actuation {
  readonly #tree: TreeView
  readonly #find: (path: string) => ActuatorPoint | undefined
  readonly #points: () => Iterable<ActuatorPoint>
  readonly audit: AuditLog

  constructor(tree: TreeView, points: { find: (path: string) => ActuatorPoint | undefined; all: () => Iterable<ActuatorPoint> }, audit: AuditLog) {
    this.#tree = tree
    this.#find = points.find
    this.#points = points.all
    this.audit = audit
  }

  /** The point at `path` (a path or a stream's uuid), or an error: no such resource (404), not an actuator (405). */
  point(path: string): ActuatorPoint {
    const r = this.#tree.lookup(path)
    if (!r) throw smapError('SMAP_PATH_NOT_FOUND', `no resource at ${String(path)}`)
    const point = r.type === 'Timeseries' ? this.#find(r.path) : undefined
    if (!point) throw smapError('SMAP_NOT_ACTUATOR', `${r.path} is ${r.type === 'Collection' ? 'a collection' : 'a timeseries that cannot be written'}; only actuator points take a state`)
    return point
  }

  /** Whether any driver declared an actuator point (`GET /` lists `jobs` then). */
  get any(): boolean {
    for (const _ of this.#points()) return true
    return false
  }

  /** Writes `state` to the point at `path` for `principal`; the attempt is audited, refused or not. */
  async write(path: string, state: unknown, principal: Principal, job?: string): Promise<WriteResult & { point: ActuatorPoint }> {
    const entry = { time: Date.now(), principal, path: safePath(path), state, ...(job === undefined ? {} : { job }) }
    try {
      const point = this.point(path)
      entry.path = point.path
      const result = await point.write(state, principal)
      void this.audit.record({ ...entry, result: 'ok', status: 200, reached: result.state })
      return { ...result, point }
    } catch (err) {
      void this.audit.record({ ...entry, result: err instanceof SmapError ? err.code : 'error', status: httpStatus(err), message: err instanceof Error ? err.message : String(err) })
      throw err
    }
  }

  /** A write refused before it reached a point (no credentials): audited too. */
  refused(path: string, state: unknown, principal: AuditEntry['principal'], status: number, message: string): void {
    const entry: AuditEntry = { time: Date.now(), principal, path: safePath(path), state, result: 'forbidden', status, message }
    void this.audit.record(entry)
  }
}

/** A path as given, normalized when it can be, cut short when it is long (it goes into a log). */
function safePath(path: string): string {
  try {
    return normalizePath(path)
  } catch {
    return String(path).slice(0, 200)
  }
}
