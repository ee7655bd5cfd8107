import { writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { Metadata } from '@smap/sdk'
import { smapError } from '../errors.js'
import type { SmapInstance } from '../instance.js'
import { reportObject } from '../reporting/subscription.js'
import { flattenMetadata } from '../tree/metadata.js'
import { DEFAULT_BUFFER_SIZE } from '../tree/timeseries.js'
import { DEFAULT_TIMEZONE } from '../tree/tree.js'
import { writeIni } from './ini.js'
import { serverEntries } from './server-keys.js'
import { tokenSections } from './tokens.js'
import { brokerSections } from './brokers.js'

/**
 * Writes an instance as a config file, omitting defaults; `load` reads it back
 * into the same tree, metadata and uuids.
 * @example await dump(inst, 'conf.ini')
 */
export async function dump(inst: SmapInstance, file: string): Promise<void> {
  await writeFile(file, dumpText(inst, dirname(resolve(file))))
}

/** The config text `dump` writes; `baseDir` anchors a relative DataDir. */
export function dumpText(inst: SmapInstance, baseDir = process.cwd()): string {
  const sections: Array<{ name: string; entries: Array<[string, string]> }> = []
  const server = serverEntries(inst.server, baseDir)
  if (server.length > 0) sections.push({ name: 'server', entries: server })
  sections.push(...tokenSections(inst.server, baseDir))
  sections.push(...brokerSections(inst.server.brokers, baseDir))

  for (const r of inst.resources()) {
    const driver = inst.drivers.get(r.path)
    if (driver) {
      // a driver's section as written; what it builds comes back when it runs
      if (driver.source.ref === undefined) {
        throw smapError('SMAP_DUMP_UNREPRESENTABLE', `cannot write the driver at ${r.path}: it was added in code without a package reference (pass { ref: 'package-name' } to addDriver)`)
      }
      const entries: Array<[string, string]> = [['type', driver.source.ref]]
      if (driver.source.key !== undefined) entries.push(['key', driver.source.key])
      if (driver.source.uuid !== undefined) entries.push(['uuid', driver.source.uuid])
      if (driver.source.minWriteIntervalMs !== undefined) entries.push(['MinWriteInterval', String(driver.source.minWriteIntervalMs)])
      if (driver.source.isolation) {
        entries.push(['Isolation', 'worker'])
        if (driver.source.isolation.memoryMb !== undefined) entries.push(['WorkerMemory', String(driver.source.isolation.memoryMb)])
      }
      entries.push(...Object.entries(driver.source.rawOptions))
      if (driver.source.description !== undefined) entries.push(['Description', driver.source.description])
      entries.push(...metadataEntries(driver.source.metadata))
      if (r.path === '/') throw smapError('SMAP_DUMP_UNREPRESENTABLE', 'cannot write a driver attached at the root: a config attaches drivers at a path below [/]')
      sections.push({ name: r.path, entries })
      continue
    }
    if (r._owner !== undefined) continue
    const entries: Array<[string, string]> = [['type', r.type]]
    if (r.path === '/') {
      entries.push(['uuid', inst.root])
      if (inst.timezone !== DEFAULT_TIMEZONE) entries.push(['Properties/Timezone', inst.timezone])
    } else if (r.type === 'Timeseries') {
      if (r.key !== undefined) entries.push(['key', r.key])
      else if (r.explicitUuid) entries.push(['uuid', r.uuid])
      entries.push(['Properties/UnitofMeasure', r.unit])
      if (r.readingType !== 'long') entries.push(['Properties/ReadingType', r.readingType])
      if (r.ownTimezone !== undefined) entries.push(['Properties/Timezone', r.ownTimezone])
      if (r.bufferSize !== DEFAULT_BUFFER_SIZE) entries.push(['BufferSize', String(r.bufferSize)])
    }
    if (r.description !== undefined) entries.push(['Description', r.description])
    entries.push(...metadataEntries(r._metadata))
    sections.push({ name: r.path, entries })
  }
  // subscriptions from a config (those made over HTTP live in the data dir)
  for (const sub of inst.subscriptions.values()) {
    if (sub.origin !== 'config' || sub.name === undefined) continue
    const o = reportObject(sub.config)
    const entries: Array<[string, string]> = o.ReportDeliveryLocation instanceof Array
      ? o.ReportDeliveryLocation.map((l, i) => [i === 0 ? 'ReportDeliveryLocation' : `ReportDeliveryLocation${i}`, l])
      : [['ReportDeliveryLocation', o.ReportDeliveryLocation]]
    entries.push(['ReportResource', o.ReportResource])
    if (o.MinPeriod) entries.push(['MinPeriod', String(o.MinPeriod)])
    for (const k of ['MaxPeriod', 'ExpireTime', 'Delivery', 'MaxBuffer'] as const) if (o[k] !== undefined) entries.push([k, String(o[k])])
    if (o.Format !== 'json') entries.push(['Format', String(o.Format)])
    sections.push({ name: sub.name, entries })
  }
  return writeIni(sections)
}

function metadataEntries(meta: Metadata): Array<[string, string]> {
  return flattenMetadata(meta).map(([k, v]) => [`Metadata/${k}`, v])
}
