export { ConfigError, SmapError, formatLocation } from './errors.js'
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
  timeseriesObjectSchema,
} from './schemas.js'
export type { ConfigLocation } from './errors.js'
export type { MetadataInput } from './metadata.js'
export type {
  CollectionObject,
  Metadata,
  Properties,
  Reading,
  ReadingType,
  ReadingValue,
  TimeseriesObject,
} from './schemas.js'
