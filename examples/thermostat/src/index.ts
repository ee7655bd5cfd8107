import { defineDriver, z } from '@smap/sdk'

/** The room the thermostat is in: its temperature moves towards the setpoint while the mode lets it. */
interface Room {
  temperature: number
  setpoint: number
  mode: 'heat' | 'cool' | 'off'
  fan: 0 | 1
}

/**
 * A simulated room thermostat, the demo's equipment to change:
 * `/temperature` (read only) drifts towards `/setpoint` when `/mode` lets it
 * (faster with `/fan` on); the three of them are actuator points.
 */
export default defineDriver({
  name: 'thermostat',
  description: 'a simulated room thermostat: setpoint, mode and fan to write, the room temperature to watch',
  options: z.object({
    Rate: z.coerce.number().positive().default(1).describe('Seconds between temperature readings.'),
    Temperature: z.coerce.number().default(19).describe("The room's temperature at start, °C."),
  }),
  setup(ctx, opts) {
    const room: Room = { temperature: opts.Temperature, setpoint: 21, mode: 'heat', fan: 0 }
    // the device keeps its state across restarts of the driver
    const saved = ctx.state.get<Partial<Room>>('room')
    Object.assign(room, saved)
    const keep = (): void => ctx.state.set('room', { setpoint: room.setpoint, mode: room.mode, fan: room.fan })
    rooms.set(ctx.path, room)
    ctx.addTimeseries('/temperature', { unit: 'C', readingType: 'double', description: 'room temperature' })
    ctx.addActuator('/setpoint', {
      unit: 'C',
      model: 'continuous',
      min: 10,
      max: 30,
      step: 0.5,
      description: 'temperature to hold',
      write: (value) => {
        room.setpoint = value as number
        keep()
      },
      read: () => room.setpoint,
    })
    ctx.addActuator('/mode', {
      unit: 'mode',
      model: 'discrete',
      values: ['heat', 'cool', 'off'],
      write: (value) => {
        room.mode = value as Room['mode']
        keep()
      },
      read: () => room.mode,
    })
    ctx.addActuator('/fan', {
      unit: 'on/off',
      model: 'binary',
      write: (value) => {
        room.fan = value === 1 ? 1 : 0
        keep()
      },
      read: () => room.fan,
    })
    ctx.setMetadata('/', { 'Instrument/Model': 'simulated thermostat' })
  },
  start(ctx, opts) {
    const room = rooms.get(ctx.path) as Room
    ctx.periodic(() => {
      const gap = room.setpoint - room.temperature
      const allowed = (room.mode === 'heat' && gap > 0) || (room.mode === 'cool' && gap < 0)
      const step = allowed ? gap * (room.fan === 1 ? 0.3 : 0.1) : (opts.Temperature - room.temperature) * 0.02
      room.temperature = Math.round((room.temperature + step) * 100) / 100
      ctx.add('/temperature', room.temperature)
    }, opts.Rate)
  },
})

const rooms = new Map<string, Room>()
