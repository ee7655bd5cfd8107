import type { DriverActuatorOptions, DriverHealth, DriverPeriodicOptions, DriverTimeseriesOptions, LoadRange, MetadataInput, Principal, ReadingValue } from '@smap/sdk'

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
  /** an actuator point's write or read, carried out by the driver's function in the worker */
  | { t: 'device'; id: number; path: string; what: 'write' | 'read'; value?: number | string; principal?: Principal }
  /** the point's deadline passed, or the driver stopped: the call's signal fires */
  | { t: 'cancel'; id: number }
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
  /** an actuator point, its functions left in the worker */
  | { t: 'actuator'; path: string; options: Omit<DriverActuatorOptions, 'write' | 'read'>; read: boolean }
  | { t: 'report'; path: string; value: number | string }
  /** a call ended; a device call's answer is `value` */
  | { t: 'done'; id: number; error?: { message: string; stack?: string }; value?: unknown }

/** From a driver's worker: its context calls, in batches, and a beat every second while its event loop turns. */
export type FromWorker = { t: 'batch'; calls: ContextCall[] } | { t: 'beat' }
