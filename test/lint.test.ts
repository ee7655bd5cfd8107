import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ESLint, Linter } from 'eslint'
import tseslint from 'typescript-eslint'
import { describe, expect, it } from 'vitest'
import noImportCycle from '../eslint/no-import-cycle.js'

// The guard rails of the repository's layout are lint rules; these tests make
// sure each one still fires on what it is there to stop.
const root = fileURLToPath(new URL('..', import.meta.url))

/** Lints `text` as if it were the file at `path` in the repository, with the repository's config (without type information). */
async function lintAs(path: string, text: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: root,
    overrideConfig: { languageOptions: { parserOptions: { projectService: false } }, rules: { '@typescript-eslint/no-floating-promises': 'off', 'local/no-import-cycle': 'off' } },
  })
  const [result] = await eslint.lintText(text, { filePath: join(root, path) })
  return (result?.messages ?? []).map((m) => `${m.ruleId}: ${m.message}`)
}

describe('the lint rules of the layout', () => {
  it('keep the tree from importing the layers above it', async () => {
    expect(await lintAs('packages/core/src/tree/probe.ts', "import type { Reporter } from '../reporting/reporter.js'\nexport type R = Reporter\n")).toEqual([
      'no-restricted-imports: \'../reporting/reporter.js\' import is restricted from being used by a pattern. this layer of @smap/core may not import from reporting/',
    ])
    expect(await lintAs('packages/core/src/drivers/probe.ts', "import type { SmapInstance } from '../instance.js'\nexport type I = SmapInstance\n")).toEqual([
      "no-restricted-imports: '../instance.js' import is restricted from being used by a pattern. only config/, http/ and history/ sit above the instance",
    ])
    expect(await lintAs('packages/core/src/http/probe.ts', "import type { SmapInstance } from '../instance.js'\nexport type I = SmapInstance\n")).toEqual([])
  })

  it('keep drivers on the SDK and core on coded errors', async () => {
    expect(await lintAs('packages/driver-dent/src/probe.ts', "import { load } from '@smap/core'\nexport const l = load\n")).toEqual([
      "no-restricted-imports: '@smap/core' import is restricted from being used. drivers depend on @smap/sdk only",
    ])
    expect(await lintAs('packages/core/src/tree/probe.ts', "import { SmapError } from '@smap/sdk'\nexport const e = new SmapError('X', 'y')\n")).toEqual([
      "no-restricted-syntax: use smapError('SMAP_...') so the code is one of ErrorCode's",
    ])
  })

  it('find an import cycle made only of type imports', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'smap-lint-'))
    try {
      await writeFile(join(dir, 'a.ts'), "import type { B } from './b.js'\nexport type A = B | 1\n")
      await writeFile(join(dir, 'b.ts'), "import type { A } from './a.js'\nexport type B = A | 2\n")
      await writeFile(join(dir, 'c.ts'), "import type { A } from './a.js'\nexport type C = A\n")
      const linter = new Linter({ configType: 'flat', cwd: dir })
      const config: Linter.Config[] = [
        { files: ['**/*.ts'], languageOptions: { parser: tseslint.parser as Linter.Parser }, plugins: { local: { rules: { 'no-import-cycle': noImportCycle } } }, rules: { 'local/no-import-cycle': 'error' } },
      ]
      const lint = (name: string, text: string): string[] => linter.verify(text, config, { filename: join(dir, name) }).map((m) => m.message)
      expect(lint('a.ts', "import type { B } from './b.js'\nexport type A = B | 1\n")).toEqual([
        expect.stringMatching(/^import cycle: .*a\.ts -> .*b\.ts -> .*a\.ts; move what both need into a file they both import$/),
      ])
      expect(lint('c.ts', "import type { A } from './a.js'\nexport type C = A\n")).toEqual([])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
