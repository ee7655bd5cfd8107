export {
  collectionObjectSchema,
  metadataSchema,
  propertiesSchema,
  readingSchema,
  readingTypeSchema,
  timeseriesObjectSchema,
} from './schemas.js'
export type {
  CollectionObject,
  Metadata,
  Properties,
  Reading,
  ReadingType,
  ReadingValue,
  TimeseriesObject,
} from './schemas.js'
