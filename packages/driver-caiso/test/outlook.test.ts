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
    expect(text.split('\r\n')[0]).toBe('Time,Day ahead forecast,Hour ahead forecast,Current demand')
    const table = parseOutlookCsv(text, 'demand')
    expect(table.rows).toHaveLength(289)
    expect(table.columns.map((c) => [c.column.path, c.index])).toEqual([
      ['/demand/day_ahead_forecast', 1],
      ['/demand/hour_ahead_forecast', 2],
      ['/demand/current', 3],
    ])
    const current = series(datedReadings(table, { year: 2024, month: 1, day: 15 }), '/demand/current')
    expect(current).toHaveLength(289)
    expect(current[0]).toEqual([pst(15, 0, 0), 17383])
    expect(current[287]?.[0]).toBe(pst(15, 23, 55))
    expect(current[288]?.[0]).toBe(pst(16, 0, 0))
    expect(current.every(([t], i) => i === 0 || t - (current[i - 1] as [number, number])[0] === MIN5)).toBe(true)
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
    // netdemand.csv in its older layout: only "Net demand" is a net-demand series
    const net = parseOutlookCsv(csv('drifted/20240115T1032/netdemand.csv'), 'netdemand')
    expect(net.columns.map((c) => c.column.path)).toEqual(['/netdemand/current'])
    expect(net.unknown).toEqual(['Hour ahead forecast', 'Current demand'])
  })

  it('refuses a file without a Time column, quoting its first line', () => {
    expect(() => parseOutlookCsv('Hour,Solar\r\n00:00,1\r\n', 'fuelsource', 'https://example/fuelsource.csv')).toThrow(
      'https://example/fuelsource.csv has no "Time" column: its first line is "Hour,Solar"',
    )
  })

  it('dates the spring-forward day: no 02:00–02:55, 23 hours of readings 5 minutes apart', () => {
    const table = parseOutlookCsv(csv('history/20240310/demand.csv'), 'demand')
    expect(table.rows.some((r) => r.cells[0] === '02:00')).toBe(false)
    const current = series(datedReadings(table, { year: 2024, month: 3, day: 10 }), '/demand/current')
    expect(current).toHaveLength(23 * 12 + 1)
    expect(current[0]?.[0]).toBe(Date.UTC(2024, 2, 10, 8)) // 00:00 PST
    expect(current[23]?.[0]).toBe(Date.UTC(2024, 2, 10, 9, 55)) // 01:55 PST
    expect(current[24]?.[0]).toBe(Date.UTC(2024, 2, 10, 10)) // 03:00 PDT, five minutes later
    expect(current.at(-1)?.[0]).toBe(Date.UTC(2024, 2, 11, 7)) // the next midnight, PDT
    expect(current.every(([t], i) => i === 0 || t - (current[i - 1] as [number, number])[0] === MIN5)).toBe(true)
  })

  it('dates the fall-back day: the repeated 01:00–01:55 is PDT the first time and PST the second', () => {
    const table = parseOutlookCsv(csv('history/20241103/demand.csv'), 'demand')
    expect(table.rows.filter((r) => r.cells[0] === '01:30')).toHaveLength(2)
    const current = series(datedReadings(table, { year: 2024, month: 11, day: 3 }), '/demand/current')
    expect(current).toHaveLength(25 * 12 + 1)
    const times = current.map(([t]) => t)
    expect(new Set(times).size).toBe(times.length)
    expect(times[18]).toBe(Date.UTC(2024, 10, 3, 8, 30)) // first 01:30, PDT
    expect(times[30]).toBe(Date.UTC(2024, 10, 3, 9, 30)) // second 01:30, PST
    expect(times.at(-1)).toBe(Date.UTC(2024, 10, 4, 8)) // the next midnight, PST
    expect(times.every((t, i) => i === 0 || t - (times[i - 1] as number) === MIN5)).toBe(true)
  })

  it('drops rows of the skipped hour when a file keeps them, rather than giving them a wrong time', () => {
    const text = 'Time,Day ahead forecast,Hour ahead forecast,Current demand\r\n01:55,1,1,1\r\n02:00,,,\r\n02:05,2,2,2\r\n03:00,3,3,3\r\n'
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
