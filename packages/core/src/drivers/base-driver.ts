import { defineDriver, z } from '@smap/sdk'

/**
 * The tutorial's example driver (`smap.driver.BaseDriver`): one stream,
 * `/sensor0` keyed `mysensor`, in volts, counting up once a second.
 */
export const baseDriver = defineDriver({
  name: 'BaseDriver',
  description: 'counts up on /sensor0, as the tutorial example driver',
  options: z.object({
    Rate: z.coerce.number().positive().default(1).describe('Seconds between readings.'),
    StartVal: z.coerce.number().int().default(0).describe('The first reading; each next one is one more.'),
  }),
  setup(ctx) {
    ctx.addTimeseries('/sensor0', 'mysensor', 'V')
  },
  start(ctx, opts) {
    let counter = opts.StartVal
    ctx.periodic(() => ctx.add('/sensor0', counter++), opts.Rate)
  },
})
