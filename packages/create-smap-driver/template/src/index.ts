import { defineDriver, z } from '@smap/sdk'
import { openMeter } from './meter.js'

/**
 * {{description}}
 *
 * A config section whose `type` names this package attaches the driver there.
 * @example
 * // conf.ini
 * // [/meter]
 * // type = {{packageName}}
 * // Rate = 5
 */
export default defineDriver({
  name: '{{name}}',
  description: '{{description}}',
  // Config values arrive as strings: z.coerce turns them into numbers.
  // .describe() documents an option for `smap describe` and `smap check-driver`.
  options: z.object({
    Rate: z.coerce.number().positive().default(1).describe('Seconds between readings.'),
    Scale: z.coerce.number().positive().default(1).describe("Multiplies the current and power, e.g. a current transformer's ratio."),
  }),

  setup(ctx, options) {
    ctx.setMetadata('/', {
      'Instrument/Manufacturer': 'Example Instruments',
      'Instrument/Model': 'Simulated meter',
      'Instrument/SamplingPeriod': String(options.Rate),
    })
    // Keys name streams durably: a stream's uuid is uuid5(driver namespace, key).
    ctx.addTimeseries('/voltage', 'voltage', 'V', { readingType: 'double', description: 'Supply voltage' })
    ctx.addTimeseries('/current', 'current', 'A', { readingType: 'double', description: 'Load current' })
    ctx.addTimeseries('/power', 'power', 'W', { readingType: 'double', description: 'Real power' })
    ctx.setMetadata('/current', { 'Extra/Scale': String(options.Scale) })
    ctx.setMetadata('/power', { 'Extra/Scale': String(options.Scale) })
  },

  start(ctx, options) {
    // ctx.signal fires when the driver stops or is restarted after a failure.
    const meter = openMeter(ctx.signal)
    // Runs now, then every Rate seconds, never two at once; a throw or a run
    // longer than the timeout is logged and the host restarts the driver.
    ctx.periodic(
      async (signal) => {
        const time = ctx.now()
        const { volts, amps } = await meter.read(time, signal)
        const current = amps * options.Scale
        ctx.add('/voltage', time, volts)
        ctx.add('/current', time, current)
        ctx.add('/power', time, volts * current)
      },
      options.Rate,
      { timeout: 10 },
    )
  },
})
