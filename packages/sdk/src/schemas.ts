import { z } from 'zod'

/** How a stream's values are typed on the wire (DESIGN.md §3). */
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

/** A Timeseries as served at `/data/PATH` and carried in reports. */
export const timeseriesObjectSchema = z.object({
  uuid: z.uuid(),
  Description: z.string().optional(),
  Properties: propertiesSchema,
  Metadata: metadataSchema.optional(),
  Readings: z.array(readingSchema),
})
export type TimeseriesObject = z.infer<typeof timeseriesObjectSchema>

/** A Collection as served at `/data/PATH`. */
export const collectionObjectSchema = z.object({
  Contents: z.array(z.string()),
  Description: z.string().optional(),
  Metadata: metadataSchema.optional(),
})
export type CollectionObject = z.infer<typeof collectionObjectSchema>
