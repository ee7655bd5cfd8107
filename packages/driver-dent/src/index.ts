import { PowerScout18 } from './driver.js'

export { PowerScout18, PowerScout3, PowerScout3037 } from './driver.js'
export { DentError } from './errors.js'
export { DEFAULT_PORTS } from './options.js'
export { BLOCK_ADDRESS, BLOCK_LENGTH, decodeBlock, ELEMENTS, MAX_SCALAR, PHASES, scaleFactor, STREAMS } from './registers.js'
export type { PowerScout18Options, PowerScout3Options, Transport } from './options.js'
export type { Element, Encoding, Phase, Scaling, StreamSpec } from './registers.js'

/** The PowerScout 18 driver (`type = @smap/driver-dent`). */
export default PowerScout18
