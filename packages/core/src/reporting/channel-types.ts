import type { Dispatcher } from 'undici'
import type { BrokerSettings } from '../credentials.js'
import type { Logger } from '../logger.js'

// What a delivery channel is given and what it shows in /status.

/** How a channel delivers: the reporter's settings. */
export interface ChannelOptions {
  fsync?: boolean
  /** The least time between two writes to the outbox, ms (default 10); a reading that finds it idle is written at the next turn of the event loop. */
  writeGapMs?: number
  /** Whether readings are written as they arrive (false while an import holds them for one big write). */
  autoWrite?: () => boolean
  /** Called after each write to the outbox (the byte cap over all outboxes). */
  afterWrite?: () => void
  /** Timeout of one POST, ms (default 30 s). */
  timeoutMs?: number
  /** Retry backoff: first delay and cap, ms (defaults 500 ms and 60 s). */
  backoffMs?: number
  maxBackoffMs?: number
  /** The connection pool the POSTs go through (the reporter's, which checks the addresses connected to). */
  dispatcher?: () => Dispatcher | undefined
  brokers?: BrokerSettings[]
  logger: Logger
}

/** A delivery channel's line in `/status`. */
export interface ChannelStatus {
  locations: string[]
  currentLocation: string
  state: 'idle' | 'delivering' | 'retrying' | 'stopped'
  backlogReadings: number
  /** Bytes of the undelivered readings as stored. */
  backlogBytes: number
  /** Bytes of the outbox files on disk: the backlog, plus delivered data not yet reclaimed (at most about a segment). */
  diskBytes: number
  oldestUndeliveredAgeMs: number | null
  lastSuccess: number | null
  lastError: { message: string; time: number } | null
  writeError: string | null
  added: number
  restored: number
  delivered: number
  dropped: { total: number; perStream: Record<string, number> }
  deadLettered: number
  deadLetters: number
  pending: number
  /** Damaged outbox files set aside at start: where each is kept and what was wrong. */
  quarantined: Array<{ file: string; kept: string | null; problem: string }>
}
