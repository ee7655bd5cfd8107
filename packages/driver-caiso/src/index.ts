import type { DriverDefinition } from '@smap/sdk'
import { createCaisoDriver } from './_driver.js'

/**
 * The California ISO driver: Today's Outlook demand, net demand and supply by
 * fuel (MW, every `Rate` seconds) and OASIS locational marginal prices
 * ($/MWh) for the configured nodes; `load` imports history.
 * @example
 * // conf.ini
 * // [/caiso]
 * // type = @smap/driver-caiso        ; or the classic smap.drivers.caiso.CaIsoDriver
 * // Nodes = TH_SP15_GEN-APND
 */
const caiso: DriverDefinition = createCaisoDriver()
export default caiso

export { CaisoError } from './errors.js'
export type { CaisoOptions } from './options.js'
