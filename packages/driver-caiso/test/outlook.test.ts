import { describe, expect, it } from 'vitest'
import { localInstants, zoneOffset } from '../src/_time.js'
import { dateCurrentFile, datedReadings, parseOutlookCsv, type OutlookReading } from '../src/outlook.js'
import { fixture } from './_fixture-server.js'

const csv = (path: string): string => fixture(`outlook/${path}`).toString('utf8')
/** Unix ms of a Pacific Standard Time wall clock in January 2024. */
const pst = (day: number, h: number, m: number): number => Date.UTC(2024, 0, day, h + 8, m)
const MIN5 = 5 * 60_000

/** [time, value] of one stream, by path. */
function series(readings: OutlookReading[], path: string): Array<[number, number]> {
  return readings.flatMap((r) => r.values.filter((v) => v.column.path === path).map((v): [number, number] => [r.time, v.value]))
}

describe('Pacific time', () => {
  it('finds no instant in the skipped hour, two in the repeated one', () => {
    expect(localInstants({ year: 2024, month: 3, day: 10 }, 2 * 60 + 30)).toEqual([])
    expect(localInstants({ year: 2024, month: 3, day: 10 }, 3 * 60)).toEqual([Date.UTC(2024, 2, 10, 10)])
    expect(localInstants({ year: 2024, month: 11, day: 3 }, 60 + 30)).toEqual([Date.UTC(2024, 10, 3, 8, 30), Date.UTC(2024, 10, 3, 9, 30)])
    expect(zoneOffset(Date.UTC(2024, 6, 1))).toBe(-7 * 3_600_000)
    expect(zoneOffset(Date.UTC(2024, 0, 1))).toBe(-8 * 3_600_000)
  })
})

describe("Today's Outlook files", () => {
  it('reads a day of demand.csv: CRLF, 288 five-minute rows and a trailing 00:00 that is the next midnight', () => {
    const text = csv('history/20240115/demand.csv')
    expect(text.split('\r\n')[0]).toBe('Time,Day ahead forecast,Hour ahead forecast,Current demand,Demand response')
    expect(text.endsWith('\r\n')).toBe(true)
    expect(text.replaceAll('\r\n', '')).not.toContain('\n')
    const table = parseOutlookCsv(text, 'demand')
    expect(table.rows).toHaveLength(289)
    expect(table.columns.map((c) => [c.column.path, c.index])).toEqual([
      ['/demand/day_ahead_forecast', 1],
      ['/demand/hour_ahead_forecast', 2],
      ['/demand/current', 3],
      ['/demand/demand_response', 4],
    ])
    expect(table.unknown).toEqual([])
    const current = series(datedReadings(table, { year: 2024, month: 1, day: 15 }), '/demand/current')
    expect(current).toHaveLength(289)
    expect(current[0]).toEqual([pst(15, 0, 0), 17383])
    expect(current[287]?.[0]).toBe(pst(15, 23, 55))
    expect(current[288]?.[0]).toBe(pst(16, 0, 0))
    expect(current.every(([t], i) => i === 0 || t - (current[i - 1] as [number, number])[0] === MIN5)).toBe(true)
    // demand response only on the evenings it was dispatched; its cells are empty otherwise
    const response = series(datedReadings(table, { year: 2024, month: 1, day: 15 }), '/demand/demand_response')
    expect(response).toHaveLength(36)
    expect(response[0]?.[0]).toBe(pst(15, 17, 0))
  })

  it('reads fuelsource.csv history as 288 rows with no trailing midnight', () => {
    const text = csv('history/20240115/fuelsource.csv')
    expect(text.split('\r\n')[0]).toBe('Time,Solar,Wind,Geothermal,Biomass,Biogas,Small hydro,Coal,Nuclear,Natural Gas,Large Hydro,Batteries,Imports,Other')
    const table = parseOutlookCsv(text, 'fuelsource')
    expect(table.rows).toHaveLength(288)
    expect(table.unknown).toEqual([])
    const solar = series(datedReadings(table, { year: 2024, month: 1, day: 15 }), '/fuel/solar')
    expect(solar.map(([t]) => t)).toEqual(Array.from({ length: 288 }, (_, i) => pst(15, 0, 0) + i * MIN5))
  })

  it('reads netdemand.csv by column name in both its layouts, the demand columns apart from net demand', () => {
    const day = { year: 2024, month: 1, day: 15 }
    // Time,Hour ahead forecast,Current demand,Net demand (as in CAISO's 2019-2023 files)
    const older = parseOutlookCsv(csv('history/20190310/netdemand.csv'), 'netdemand')
    expect(older.columns.map((c) => [c.column.path, c.index])).toEqual([
      ['/netdemand/demand_hour_ahead_forecast', 1],
      ['/netdemand/demand', 2],
      ['/netdemand/current', 3],
    ])
    expect(older.unknown).toEqual([])
    // ... and the newer one, with Net demand forecast and Demand response after them
    const newer = parseOutlookCsv(csv('history/20240115/netdemand.csv'), 'netdemand')
    expect(newer.columns.map((c) => [c.column.path, c.index])).toEqual([
      ['/netdemand/demand_hour_ahead_forecast', 1],
      ['/netdemand/demand', 2],
      ['/netdemand/current', 3],
      ['/netdemand/forecast', 4],
      ['/netdemand/demand_response', 5],
    ])
    expect(newer.unknown).toEqual([])
    const readings = datedReadings(newer, day)
    // the trailing midnight carries only the hour-ahead forecast
    expect(series(readings, '/netdemand/current')).toHaveLength(288)
    expect(series(readings, '/netdemand/demand_hour_ahead_forecast')).toHaveLength(289)
    expect(series(readings, '/netdemand/forecast')).toHaveLength(288)
    // net demand is demand less wind and solar: below the demand of the same row
    const demandAt = new Map(series(readings, '/netdemand/demand'))
    expect(series(readings, '/netdemand/current').every(([t, v]) => v < (demandAt.get(t) as number))).toBe(true)
  })

  it('skips empty cells of future rows instead of publishing zeros', () => {
    const table = parseOutlookCsv(csv('current/20240115T1032/demand.csv'), 'demand')
    const readings = datedReadings(table, { year: 2024, month: 1, day: 15 })
    const current = series(readings, '/demand/current')
    expect(current).toHaveLength(126)
    expect(current.at(-1)?.[0]).toBe(pst(15, 10, 25))
    expect(current.some(([, v]) => v === 0)).toBe(false)
    expect(series(readings, '/demand/hour_ahead_forecast').at(-1)?.[0]).toBe(pst(15, 11, 30))
    // the day-ahead forecast covers the whole day, the next midnight included
    expect(series(readings, '/demand/day_ahead_forecast')).toHaveLength(289)
    const fuel = datedReadings(parseOutlookCsv(csv('current/20240115T1032/fuelsource.csv'), 'fuelsource'), { year: 2024, month: 1, day: 15 })
    expect(fuel.at(-1)?.time).toBe(pst(15, 10, 25))
    expect(fuel.at(-1)?.values).toHaveLength(13)
  })

  it('matches drifted headers by name and ignores unknown columns', () => {
    const table = parseOutlookCsv(csv('drifted/20240115T1032/fuelsource.csv'), 'fuelsource')
    // renamed by case (Small Hydro, Natural gas, Large hydro), reordered (Wind first), Coal gone, Hybrids new
    expect(table.columns.map((c) => c.column.subtype).sort()).toEqual(
      ['batteries', 'biogas', 'biomass', 'geothermal', 'imports', 'large_hydro', 'natural_gas', 'nuclear', 'other', 'small_hydro', 'solar', 'wind'].sort(),
    )
    expect(table.unknown).toEqual(['Hybrids'])
    const drifted = datedReadings(table, { year: 2024, month: 1, day: 15 })
    const usual = datedReadings(parseOutlookCsv(csv('current/20240115T1032/fuelsource.csv'), 'fuelsource'), { year: 2024, month: 1, day: 15 })
    for (const path of ['/fuel/solar', '/fuel/wind', '/fuel/small_hydro', '/fuel/natural_gas', '/fuel/large_hydro']) {
      expect(series(drifted, path)).toEqual(series(usual, path))
    }
  })

  it('refuses a file without a Time column, quoting its first line', () => {
    expect(() => parseOutlookCsv('Hour,Solar\r\n00:00,1\r\n', 'fuelsource', 'https://example/fuelsource.csv')).toThrow(
      'https://example/fuelsource.csv has no "Time" column: its first line is "Hour,Solar"',
    )
  })

  it('dates the spring-forward day: its blank 02:00–02:55 rows give nothing, 23 hours of readings 5 minutes apart', () => {
    const table = parseOutlookCsv(csv('history/20240310/demand.csv'), 'demand')
    // CAISO keeps the 288 wall-clock slots and leaves the hour that does not exist empty
    expect(table.rows).toHaveLength(289)
    const skipped = table.rows.filter((r) => (r.minutes as number) >= 120 && (r.minutes as number) < 180)
    expect(skipped.map((r) => r.cells.join(','))).toContain('02:00,,,,')
    expect(skipped).toHaveLength(12)
    expect(skipped.every((r) => r.cells.slice(1).every((c) => c === ''))).toBe(true)
    const current = series(datedReadings(table, { year: 2024, month: 3, day: 10 }), '/demand/current')
    expect(current).toHaveLength(23 * 12 + 1)
    expect(current[0]?.[0]).toBe(Date.UTC(2024, 2, 10, 8)) // 00:00 PST
    expect(current[23]?.[0]).toBe(Date.UTC(2024, 2, 10, 9, 55)) // 01:55 PST
    expect(current[24]?.[0]).toBe(Date.UTC(2024, 2, 10, 10)) // 03:00 PDT, five minutes later
    expect(current.at(-1)?.[0]).toBe(Date.UTC(2024, 2, 11, 7)) // the next midnight, PDT
    expect(current.every(([t], i) => i === 0 || t - (current[i - 1] as [number, number])[0] === MIN5)).toBe(true)
    // fuelsource.csv keeps the blank hour too, and has no trailing midnight
    const fuel = parseOutlookCsv(csv('history/20240310/fuelsource.csv'), 'fuelsource')
    expect(fuel.rows).toHaveLength(288)
    const solar = series(datedReadings(fuel, { year: 2024, month: 3, day: 10 }), '/fuel/solar')
    expect(solar).toHaveLength(23 * 12)
    expect(solar.at(-1)?.[0]).toBe(Date.UTC(2024, 2, 11, 6, 55)) // 23:55 PDT
  })

  it('dates the fall-back day as CAISO does: 288 rows, 01:00–01:55 once and in PDT, then 02:00 PST an hour and five minutes later', () => {
    for (const file of ['demand', 'netdemand'] as const) {
      const table = parseOutlookCsv(csv(`history/20241103/${file}.csv`), file)
      expect(table.rows).toHaveLength(289)
      expect(table.rows.filter((r) => r.cells[0] === '01:30')).toHaveLength(1)
      const times = series(datedReadings(table, { year: 2024, month: 11, day: 3 }), `/${file}/current`).map(([t]) => t)
      expect(times).toHaveLength(file === 'demand' ? 289 : 288)
      expect(new Set(times).size).toBe(times.length)
      expect(times[18]).toBe(Date.UTC(2024, 10, 3, 8, 30)) // 01:30 PDT
      expect(times[23]).toBe(Date.UTC(2024, 10, 3, 8, 55)) // 01:55 PDT
      expect(times[24]).toBe(Date.UTC(2024, 10, 3, 10, 0)) // 02:00 PST: the PST pass of 01:xx is not in the file
      expect(times[287]).toBe(Date.UTC(2024, 10, 4, 7, 55)) // 23:55 PST
      if (file === 'demand') expect(times.at(-1)).toBe(Date.UTC(2024, 10, 4, 8)) // the next midnight, PST
    }
    const fuel = parseOutlookCsv(csv('history/20241103/fuelsource.csv'), 'fuelsource')
    expect(fuel.rows).toHaveLength(288)
  })

  it('would still date a file that repeated the November hour: PDT the first time, PST the second', () => {
    const text = 'Time,Day ahead forecast,Hour ahead forecast,Current demand,Demand response\r\n01:55,1,1,1,\r\n01:00,2,2,2,\r\n01:55,3,3,3,\r\n02:00,4,4,4,\r\n'
    expect(series(datedReadings(parseOutlookCsv(text, 'demand'), { year: 2024, month: 11, day: 3 }), '/demand/current')).toEqual([
      [Date.UTC(2024, 10, 3, 8, 55), 1],
      [Date.UTC(2024, 10, 3, 9, 0), 2],
      [Date.UTC(2024, 10, 3, 9, 55), 3],
      [Date.UTC(2024, 10, 3, 10, 0), 4],
    ])
  })

  it('drops rows of the skipped hour when a file keeps them, rather than giving them a wrong time', () => {
    const text = 'Time,Day ahead forecast,Hour ahead forecast,Current demand,Demand response\r\n01:55,1,1,1,\r\n02:00,,,,\r\n02:05,2,2,2,\r\n03:00,3,3,3,\r\n'
    const readings = datedReadings(parseOutlookCsv(text, 'demand'), { year: 2024, month: 3, day: 10 })
    expect(series(readings, '/demand/current')).toEqual([
      [Date.UTC(2024, 2, 10, 9, 55), 1],
      [Date.UTC(2024, 2, 10, 10, 0), 3],
    ])
  })

  it("takes the current file for yesterday's while CAISO still serves it just after midnight", () => {
    const table = parseOutlookCsv(csv('current/20240115T2358/demand.csv'), 'demand')
    const early = dateCurrentFile(table, pst(16, 0, 3))
    expect(early.date).toEqual({ year: 2024, month: 1, day: 15 })
    expect(series(early.readings, '/demand/current').at(-1)?.[0]).toBe(pst(15, 23, 50))
    const fresh = dateCurrentFile(parseOutlookCsv(csv('current/20240116T0008/demand.csv'), 'demand'), pst(16, 0, 8))
    expect(fresh.date).toEqual({ year: 2024, month: 1, day: 16 })
    expect(series(fresh.readings, '/demand/current').map(([t]) => t)).toEqual([pst(16, 0, 0), pst(16, 0, 5)])
  })
})
