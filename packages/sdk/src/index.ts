export { defineDriver, optionNames, parseDriverDefinition, parseDriverOptions } from './driver.js'
export { ConfigError, ConfigErrors, SmapError, formatLocation } from './errors.js'
export { isUuid, parseUuid, uuid5 } from './identity.js'
export { cloneMetadata, flattenMetadata, mergeMetadata } from './metadata.js'
export { baseName, isWithin, normalizePath, parentPath, relativePath, splitPath } from './path.js'
export { checkReading, fitsReadingType } from './reading.js'
export {
  collectionObjectSchema,
  metadataSchema,
  propertiesSchema,
  readingSchema,
  readingTypeSchema,
  reportSchema,
  timeseriesObjectSchema,
} from './schemas.js'
export { SDK_VERSION } from './version.js'
export { z } from 'zod'
export type {
  DriverContext,
  DriverDefinition,
  DriverHealth,
  DriverJob,
  DriverLogger,
  DriverPeriodicOptions,
  DriverStateStore,
  DriverTimeseriesOptions,
  LoadRange,
  OptionsSchema,
  TimeseriesHandle,
} from './driver.js'
export type { ConfigLocation } from './errors.js'
export type { MetadataInput } from './metadata.js'
export type {
  CollectionObject,
  Metadata,
  Properties,
  Reading,
  ReadingType,
  ReadingValue,
  Report,
  TimeseriesObject,
} from './schemas.js'
