/**
 * `npm create smap-driver NAME --yes` gives `--yes` to npm, not to us: npm reads every option
 * before a `--` as its own and passes it to the initializer only as an `npm_config_*` variable
 * (npm 11: `--yes` arrives as npm_config_yes=true, `--force` as npm_config_force=true,
 * `--author=Ada` as npm_config_author=Ada, `--package-name x` as npm_config_package_name=true
 * with `x` left as an argument, `--description x` as nothing but `x`).
 */

/** How npm's own flags look to the scaffolder it started. */
export interface NpmCreate {
  /** Started by `npm create` / `npm init` (npm_command=init). */
  init: boolean
  /** `--yes` was typed before `--`: npm kept it, we take it as ours. */
  yes: boolean
  /** Other options of ours that npm kept, as typed (`--force`, `--author`). */
  kept: string[]
}

/** What npm did with the options of ours typed before `--`, from the environment npm gives us. */
export function npmCreate(argv: string[], flags: Iterable<string>, env: NodeJS.ProcessEnv): NpmCreate {
  const init = env.npm_command === 'init'
  const given = (flag: string): boolean => argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`) || a === `--no-${flag}`)
  const kept = (flag: string): boolean => init && !given(flag) && env[`npm_config_${flag.replace(/-/g, '_')}`] !== undefined
  const yes = kept('yes') && env.npm_config_yes === 'true' && !argv.includes('-y')
  return { init, yes, kept: [...flags].filter((f) => f !== 'yes' && kept(f)).map((f) => `--${f}`) }
}

/** The reminder that options after `npm create smap-driver NAME` need `--`, with an example. */
export function afterDashes(options = '--yes --license ISC'): string {
  return `options after \`npm create smap-driver NAME\` go after --, e.g. npm create smap-driver my-meter -- ${options}`
}
