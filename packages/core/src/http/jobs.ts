import type { Context, Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { SmapInstance } from '../instance.js'
import { isUuid } from '../tree/identity.js'
import { authorize } from './auth.js'
import { notAllowed } from './data.js'

const JOBS_BODY_BYTES = 256 * 1024

/**
 * `/jobs`: `GET` lists jobs with their state and each action's result (open,
 * as reading is); `PUT` or `POST` schedules a job or a list of them and
 * answers with their uuids; `DELETE /jobs/UUID` cancels one. Changes need
 * the right to actuate.
 */
export function mountJobs(app: Hono, inst: SmapInstance): void {
  app.get('/jobs', (c) => c.json(inst.jobs.list()))
  app.get('/jobs/:uuid', (c) => {
    const job = inst.jobs.get(c.req.param('uuid'))
    if (!job) throw new HTTPException(404, { message: `no job ${c.req.param('uuid')}` })
    return c.json(job)
  })
  const submit = async (c: Context): Promise<Response> => {
    const principal = authorize(c, inst, 'actuate')
    const type = c.req.header('content-type')?.split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/json') throw new HTTPException(415, { message: `send jobs as JSON with Content-Type: application/json${type ? `, not ${type.slice(0, 60)}` : ''}` })
    if (Number(c.req.header('content-length') ?? 0) > JOBS_BODY_BYTES) throw new HTTPException(413, { message: `request body larger than ${JOBS_BODY_BYTES} bytes` })
    const text = await c.req.text()
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch (err) {
      throw new HTTPException(400, { message: `request body is not JSON: ${(err as Error).message}` })
    }
    return c.json(await inst.jobs.submit(body, principal), 201)
  }
  app.put('/jobs', submit)
  app.post('/jobs', submit)
  app.delete('/jobs/:uuid', async (c) => {
    authorize(c, inst, 'actuate')
    const uuid = c.req.param('uuid')
    if (!isUuid(uuid)) throw new HTTPException(400, { message: `"${uuid.slice(0, 60)}" is not a uuid` })
    return c.json(await inst.jobs.cancel(uuid))
  })
  const refuse = (allow: string) => (c: Context) => notAllowed(c, allow, `${c.req.method} is not allowed on ${c.req.path}; use ${allow}`)
  app.all('/jobs', refuse('GET, HEAD, PUT, POST'))
  app.all('/jobs/:uuid', refuse('GET, HEAD, DELETE'))
}
