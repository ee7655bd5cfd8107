import { z } from 'zod'

/** How a stream's values are typed on the wire. */
export const readingTypeSchema = z.enum(['long', 'double', 'string'])
export type ReadingType = z.infer<typeof readingTypeSchema>

/** A value a stream can hold. */
export type ReadingValue = number | string

/** A reading on the wire: `[timeMs, value]`, optionally `[timeMs, value, seqno]`. */
export const readingSchema = z.union([
  z.tuple([z.number(), z.union([z.number(), z.string()])]),
  z.tuple([z.number(), z.union([z.number(), z.string()]), z.number()]),
])
export type Reading = z.infer<typeof readingSchema>

/** Metadata: string values, grouped in nested objects (`Instrument/Manufacturer`). */
export type Metadata = { [key: string]: string | Metadata }
/** What `setMetadata` accepts: flat `'Instrument/Model'` keys, nested objects, or both. */
export type MetadataInput = { [key: string]: string | number | boolean | MetadataInput }

export const metadataSchema: z.ZodType<Metadata> = z.lazy(() =>
  z.record(z.string().min(1), z.union([z.string(), metadataSchema])),
)

/** A timeseries' `Properties`. */
export const propertiesSchema = z.object({
  UnitofMeasure: z.string().min(1),
  ReadingType: readingTypeSchema,
  Timezone: z.string().min(1),
})
export type Properties = z.infer<typeof propertiesSchema>

/** How an actuator point can be changed, as the original sMAP profile describes it. */
export const actuatorObjectSchema = z.discriminatedUnion('Model', [
  z.object({ Model: z.literal('binary'), States: z.tuple([z.tuple([z.literal('0'), z.literal('off')]), z.tuple([z.literal('1'), z.literal('on')])]) }),
  z.object({ Model: z.literal('discrete'), Values: z.array(z.string().min(1)).min(1) }),
  z.object({ Model: z.literal('continuous'), MinValue: z.number(), MaxValue: z.number(), StepSize: z.number().positive().optional() }),
  z.object({ Model: z.literal('continuousInteger'), MinValue: z.number().int(), MaxValue: z.number().int() }),
])
export type ActuatorObject = z.infer<typeof actuatorObjectSchema>

/** A Timeseries as served at `/data/PATH` and carried in reports. */
export const timeseriesObjectSchema = z.object({
  uuid: z.uuid(),
  Description: z.string().optional(),
  Properties: propertiesSchema,
  Metadata: metadataSchema.optional(),
  Readings: z.array(readingSchema),
  /** Only on an actuator point. */
  Actuator: actuatorObjectSchema.optional(),
})
export type TimeseriesObject = z.infer<typeof timeseriesObjectSchema>

/** A Collection as served at `/data/PATH`. */
export const collectionObjectSchema = z.object({
  Contents: z.array(z.string()),
  Description: z.string().optional(),
  Metadata: metadataSchema.optional(),
})
export type CollectionObject = z.infer<typeof collectionObjectSchema>

/** A subscription as created over HTTP (`POST /reports`) and listed by `GET /reports/UUID`. */
export const reportSchema = z
  .object({
    uuid: z.uuid().optional(),
    /** A path, a stream, or `PATH/+` for everything below. */
    ReportResource: z.string().min(1),
    /** Where to POST; several are tried in turn (failover), or all get everything (`Delivery: fanout`). */
    ReportDeliveryLocation: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(10)]),
    /** Least seconds between deliveries. */
    MinPeriod: z.number().nonnegative().max(7 * 86_400).optional(),
    /** Most seconds between deliveries: an empty report is sent then. */
    MaxPeriod: z.number().positive().max(7 * 86_400).optional(),
    /** When the subscription is removed: Unix milliseconds, or Unix seconds (the original's unit) below 100,000,000,000. */
    ExpireTime: z.number().int().positive().nullable().optional(),
    /** `gzip-json`: RFC 1952 gzip; `legacy-gzip-json`: zlib data labelled gzip, what the original sMAP sent and its archiver decodes. */
    Format: z.enum(['json', 'gzip-json', 'legacy-gzip-json']).optional(),
    Delivery: z.enum(['failover', 'fanout']).optional(),
    /** Readings kept per stream while undelivered (default 10,000). */
    MaxBuffer: z.number().int().positive().max(1_000_000).optional(),
  })
  .strict()
export type Report = z.infer<typeof reportSchema>
