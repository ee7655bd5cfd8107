import type { DriverHealth, DriverPeriodicOptions, DriverTimeseriesOptions, LoadRange, MetadataInput, ReadingValue } from '@smap/sdk'

/** What starts a driver's worker thread (its `workerData`). */
export interface WorkerStart {
  /** The driver module, and the export that holds its definition. */
  url: string
  exportName: string
  path: string
  namespace: string
}

/** From the main thread to a driver's worker. */
export type ToWorker =
  | { t: 'call'; id: number; what: 'setup' | 'start' | 'stop'; options?: unknown; state?: Record<string, unknown> }
  | { t: 'call'; id: number; what: 'load'; options: unknown; range: LoadRange }
  | { t: 'run'; id: number; job: number }
  | { t: 'abort' }

/** What a driver in a worker does to its context, applied by the main thread in order. */
export type ContextCall =
  | { t: 'ts'; path: string; options: DriverTimeseriesOptions }
  | { t: 'coll'; path: string; options?: { description?: string } }
  | { t: 'meta'; path: string; metadata: MetadataInput }
  /** a reading, always with its time: stamped in the worker when the driver added it */
  | { t: 'add'; path: string; time: number; value: ReadingValue }
  | { t: 'health'; health: DriverHealth }
  | { t: 'log'; level: 'info' | 'warn' | 'error'; message: string; error?: { message: string; stack?: string } }
  | { t: 'state'; key: string; value: unknown }
  | { t: 'periodic'; job: number; seconds: number; options: DriverPeriodicOptions }
  | { t: 'unperiodic'; job: number }
  | { t: 'done'; id: number; error?: { message: string; stack?: string } }

/** From a driver's worker: its context calls, in batches, and a beat every second while its event loop turns. */
export type FromWorker = { t: 'batch'; calls: ContextCall[] } | { t: 'beat' }
