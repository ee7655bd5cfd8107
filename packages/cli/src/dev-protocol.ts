// What `smap dev` and the child process it runs the source in tell each other.

/** What the parent tells a child to run (JSON in argv[2]). */
export interface DevChildSpec {
  /** A driver module to run at the root, as resolveDriver takes it (a path, optionally #Export). */
  driver?: string
  /** The config file to run instead (absolute). */
  config?: string
  /** The package being developed: a config's `type = NAME[#Export]` runs `entry` instead of an installed copy. */
  pkg?: { name: string; entry: string }
  /** Names the driver in logs and derives the root uuid. */
  label: string
  opts: Record<string, string>
  port?: number
  host?: string
  uuid?: string
  quiet: boolean
  color: boolean
}

/** What a child tells its parent. */
export type DevChildMessage = { type: 'serving'; port: number } | { type: 'watch'; files: string[] }

/** Exit code of a child whose code or config is broken: the parent waits for the next change. */
export const EXIT_BROKEN = 3
/** Exit code of a child that cannot serve (port taken, no such address): the parent gives up. */
export const EXIT_CANNOT_SERVE = 4
