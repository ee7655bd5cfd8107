import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { describeDriver, resolveDriver } from '@smap/core'
import { defineCommand } from 'citty'
import { UsageError } from './commands.js'

/**
 * What to resolve, from where, and what `type =` to print: a package's folder
 * (`.`, `./my-driver`) stands for the package by its name, resolved inside it.
 */
function target(driver: string): { ref: string; fromDir: string } {
  const hash = driver.indexOf('#')
  const spec = hash === -1 ? driver : driver.slice(0, hash)
  const dir = resolve(spec)
  const pathLike = spec === '.' || spec === '..' || spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('/')
  if (pathLike && existsSync(dir) && statSync(dir).isDirectory()) {
    const manifest = join(dir, 'package.json')
    if (!existsSync(manifest)) throw new UsageError(`${dir} is a folder without package.json: name a driver package's folder, its built module (./dist/index.js) or an installed package`)
    const { name } = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }
    if (typeof name !== 'string' || name === '') throw new UsageError(`${manifest} has no "name", which a config's type = names the driver by`)
    return { ref: `${name}${hash === -1 ? '' : driver.slice(hash)}`, fromDir: dir }
  }
  return { ref: driver, fromDir: process.cwd() }
}

export const describeCommand = defineCommand({
  meta: { name: 'describe', description: "Print a driver's options: an INI section to paste into a config, or their JSON Schema with --json" },
  args: {
    driver: { type: 'positional', description: 'a package (smap-driver-x, @scope/pkg), optionally #Export, a driver package\'s folder (.), a module path (./dist/index.js), or a classic name (smap.drivers.caiso.CaIsoDriver)', required: true },
    json: { type: 'boolean', description: 'print the JSON Schema of the options (as a config gives them: strings) instead' },
    path: { type: 'string', description: "the section's path in the INI template (default: / and the driver's name)" },
  },
  async run({ args }) {
    if (args.path !== undefined && !args.path.startsWith('/')) throw new UsageError(`--path: expected a path in the tree such as /meter, got "${args.path}"`)
    const { ref, fromDir } = target(args.driver)
    const { definition } = await resolveDriver(ref, fromDir)
    const described = describeDriver(definition, { type: ref, ...(args.path === undefined ? {} : { path: args.path }) })
    if (args.json) {
      process.stdout.write(`${JSON.stringify(described.jsonSchema, null, 2)}\n`)
      return
    }
    process.stdout.write(described.ini)
    if (described.options.length === 0) process.stdout.write(`; driver ${definition.name} takes no options\n`)
  },
})
