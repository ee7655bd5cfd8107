// The driver contract: what a driver package imports. The runtime that
// enforces it (the tree, the host) is @smap/core; the test harness is @smap/testing.
export { defineDriver } from './driver.js'
export { SmapError } from './errors.js'
export { uuid5 } from './identity.js'
export { LIST_FORMAT, listOption } from './options.js'
export { actuatorObjectSchema, collectionObjectSchema, reportSchema, timeseriesObjectSchema } from './schemas.js'
export { SDK_VERSION } from './version.js'
export { z } from 'zod'
export type {
  ActuatorHandle,
  ActuatorModelName,
  ActuatorWriteOptions,
  DriverActuatorOptions,
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
  Principal,
  TimeseriesHandle,
} from './driver.js'
export type {
  ActuatorObject,
  CollectionObject,
  Metadata,
  MetadataInput,
  Properties,
  Reading,
  ReadingType,
  ReadingValue,
  Report,
  TimeseriesObject,
} from './schemas.js'
