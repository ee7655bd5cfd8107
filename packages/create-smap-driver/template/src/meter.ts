/** One reading of the meter's registers. */
export interface MeterSample {
  volts: number
  amps: number
}

/** A connection to the instrument. */
export interface Meter {
  read(time: number, signal: AbortSignal): Promise<MeterSample>
}

/**
 * Stands in for your instrument: replace it with the real protocol (`fetch` for
 * a device with a web API, a Modbus or serial client for others). It closes
 * when `signal` fires, and a read honours its own `signal`, so a stopped or
 * timed-out driver leaves no request or socket behind.
 */
export function openMeter(signal: AbortSignal): Meter {
  return {
    async read(time, readSignal) {
      signal.throwIfAborted()
      readSignal.throwIfAborted()
      // a load that steps from 1 A to 5 A and back, once every five seconds
      return { volts: 230, amps: 1 + (Math.floor(time / 1000) % 5) }
    },
  }
}
