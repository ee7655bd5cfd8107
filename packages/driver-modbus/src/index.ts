import { ModbusDriver } from './driver.js'

export { ModbusDriver } from './driver.js'
export { ModbusError } from './errors.js'
export { modbusOptionsSchema } from './options.js'
export { MAP_COLUMNS, parseRegisterMap } from './map.js'
export { decodeValue, ordersFor, rawFor, REGISTER_TYPES } from './codec.js'
export type { ModbusOptions } from './options.js'
export type { MapPoint, ModbusFunction } from './map.js'
export type { ByteOrder, Encoding, RegisterType } from './codec.js'

/** The register-map driver (`type = @smap/driver-modbus`). */
export default ModbusDriver
