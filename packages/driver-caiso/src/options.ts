import { listOption, z } from '@smap/sdk'
import { MARKETS, type Market } from './oasis.js'
import { OUTLOOK_FILES, type OutlookFile } from './outlook.js'

const baseUrl = z
  .url({ protocol: /^https?$/, message: 'expected an http(s) URL' })
  .transform((u) => u.replace(/\/+$/, ''))

/**
 * The driver's options as a config section gives them (strings), with their
 * defaults; lists are comma-separated (`smap describe @smap/driver-caiso` prints them).
 */
export const caisoOptionsSchema = z.object({
  Files: listOption(z.enum(OUTLOOK_FILES, { error: (issue) => `unknown file ${JSON.stringify(issue.input)}: expected ${OUTLOOK_FILES.join(', ')}` }))
    .default([...OUTLOOK_FILES])
    .describe("Today's Outlook files to poll; empty for none."),
  Rate: z.coerce.number().positive().default(300).describe('Seconds between polls.'),
  Nodes: listOption(
    z
      .string()
      .transform((s) => s.toUpperCase())
      .pipe(z.string().regex(/^[A-Z0-9_.-]+$/, { message: 'a node name uses only letters, digits and _ . -, e.g. TH_SP15_GEN-APND' })),
  )
    .default([])
    .describe('OASIS pricing nodes, e.g. TH_SP15_GEN-APND; empty for no prices.'),
  Markets: listOption(
    z
      .string()
      .transform((s) => s.toUpperCase())
      .pipe(z.enum(MARKETS, { error: (issue) => `unknown market ${JSON.stringify(issue.input)}: expected DAM (day-ahead hourly) or RTM (real-time 5-minute)` })),
  )
    .default([...MARKETS])
    .describe('Price markets: DAM (day-ahead hourly) and RTM (real-time 5-minute).'),
  OutlookUrl: baseUrl.default('https://www.caiso.com/outlook').describe("Base URL of Today's Outlook files."),
  OasisUrl: baseUrl.default('https://oasis.caiso.com/oasisapi').describe('Base URL of the OASIS API.'),
})

/** The driver's options after parsing (defaults applied). */
export interface CaisoOptions {
  Files: OutlookFile[]
  Rate: number
  Nodes: string[]
  Markets: Market[]
  OutlookUrl: string
  OasisUrl: string
}

// the interface is what the schema gives, no more and no less
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const _sameOptions: Same<z.output<typeof caisoOptionsSchema>, CaisoOptions> = true
