// What a driver instance is made from and what `/status` says of it.
import type { Metadata } from '@smap/sdk'
import type { DriverModule } from './isolate.js'

/** Where a driver is in its life. */
export type DriverState = 'loaded' | 'setting-up' | 'ready' | 'starting' | 'running' | 'backoff' | 'failed' | 'stopping' | 'stopped' | 'disabled'

/** What a config section (or code) says about a driver instance, kept for `dump`. */
export interface DriverSource {
  /** The `type` as written, e.g. `smap-driver-x#Meter`. */
  ref?: string
  key?: string
  uuid?: string
  /** The option values as written. */
  rawOptions: Record<string, string>
  /** `Metadata/*` of the section: overrides what the driver sets. */
  metadata: Metadata
  description?: string
  /** `Isolation = worker`: the driver runs in a worker thread of its own (`WorkerMemory` MB of heap). */
  isolation?: { module: DriverModule; memoryMb?: number }
  /** `MinWriteInterval`: least ms between two writes to one of its actuator points (default 1 s). */
  minWriteIntervalMs?: number
}

/** A driver's line in `/status`. */
export interface DriverStatus {
  driver: string
  state: DriverState
  restarts: number
  lastError: { message: string; phase: string; time: number } | null
  /** When a stream of the driver last got a reading (Unix ms). */
  lastReadingTime: number | null
  /** What the driver says about its device or feed (`ctx.setHealth`); stale paths are full paths. */
  health: { healthy: boolean; message?: string; stale?: string[]; since: number } | null
  /** When a driver in backoff, or failed, is tried again (Unix ms). */
  nextAttempt: number | null
  /** Turned off by an operator (`PUT /drivers/PATH?enabled=false`), kept so across restarts; its state is then `disabled`. */
  disabled: boolean
}
