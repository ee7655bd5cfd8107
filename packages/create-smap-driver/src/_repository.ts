import { CreateError } from './errors.js'

/** package.json's `repository`, `homepage` and `bugs`, as far as they follow from the repository. */
export interface RepositoryFields {
  repository: { type: 'git'; url: string }
  homepage?: string
  bugs?: { url: string }
}

// hosts whose web page is the repository URL and whose issues are at /issues
const HOSTS: Record<string, string> = { github: 'github.com', gitlab: 'gitlab.com', bitbucket: 'bitbucket.org', codeberg: 'codeberg.org' }
const SHORT = /^(?:(github|gitlab|bitbucket|codeberg):)?([\w.-]+)\/([\w.-]+)$/
const HINT = 'expected OWNER/REPO (GitHub), github:, gitlab:, bitbucket: or codeberg:OWNER/REPO, or the repository URL'

/**
 * Reads `--repository`: `acme/meter` (GitHub), `gitlab:acme/meter`, or a URL
 * (`https://git.example.com/acme/meter.git`, `git+ssh://...`). A hosted one also gives the
 * homepage (its README) and where to report bugs.
 */
export function repositoryFields(value: string): RepositoryFields {
  const v = value.trim()
  const short = SHORT.exec(v)
  let web: string | undefined
  let url: string
  if (short) {
    const [, host = 'github', owner, repo] = short as unknown as [string, string | undefined, string, string]
    web = `https://${HOSTS[host]}/${owner}/${repo.replace(/\.git$/, '')}`
    url = `git+${web}.git`
  } else {
    let parsed: URL
    try {
      parsed = new URL(v)
    } catch {
      throw new CreateError('SMAP_CREATE_REPOSITORY', `cannot read --repository "${value}": ${HINT}`)
    }
    if (!/^(?:git\+)?(?:https?|ssh|git):$/.test(parsed.protocol) || parsed.hostname === '') {
      throw new CreateError('SMAP_CREATE_REPOSITORY', `cannot read --repository "${value}": ${HINT}`)
    }
    url = /^https?:$/.test(parsed.protocol) ? `git+${v}` : v
    if (/^(?:git\+)?https?:$/.test(parsed.protocol)) web = `https://${parsed.host}${parsed.pathname.replace(/\.git$/, '').replace(/\/$/, '')}`
  }
  const fields: RepositoryFields = { repository: { type: 'git', url } }
  if (web !== undefined) {
    fields.homepage = `${web}#readme`
    if (Object.values(HOSTS).includes(new URL(web).hostname)) fields.bugs = { url: `${web}/issues` }
  }
  return fields
}
