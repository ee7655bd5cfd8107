// "Your First sMAP Source" from the tutorial, in TypeScript.
import { periodic, serve, SmapInstance } from '@smap/core'

const inst = new SmapInstance('75503ac2-abf0-11e0-b7d6-0026bb56ec92')
inst.addTimeseries('/sensor0', 'sensor0', 'V')

let counter = 1
const job = periodic(() => inst.add('/sensor0', counter++), 1)

const port = process.env.PORT === undefined ? 8080 : Number(process.env.PORT)
const server = await serve(inst, { port })
console.log(`sMAP source at ${server.url}/data — try: curl ${server.url}/data/sensor0`)

const stop = async (): Promise<void> => {
  await job.stop()
  await server.close()
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
