import { describe, expect, it } from 'vitest'
import { formatLocalTime, nextLocalMidnight, wallToInstant, zoneOffset } from '@smap/core'

const LA = 'America/Los_Angeles'
const wall = (t: string): number => Date.parse(`${t}Z`)
const iso = (t: number): string => new Date(t).toISOString()

describe('local time', () => {
  it('places a wall time of a zone, taking the later offset in the spring gap and the first occurrence in the fall overlap', () => {
    expect(iso(wallToInstant(LA, wall('2024-03-09T00:00')))).toBe('2024-03-09T08:00:00.000Z')
    expect(iso(wallToInstant(LA, wall('2024-03-10T01:59')))).toBe('2024-03-10T09:59:00.000Z')
    // 02:30 does not exist on 2024-03-10 in California: it is read as 03:30 PDT
    expect(iso(wallToInstant(LA, wall('2024-03-10T02:30')))).toBe('2024-03-10T10:30:00.000Z')
    expect(iso(wallToInstant(LA, wall('2024-03-10T03:00')))).toBe('2024-03-10T10:00:00.000Z')
    // 01:30 happens twice on 2024-11-03: the first, in PDT
    expect(iso(wallToInstant(LA, wall('2024-11-03T01:30')))).toBe('2024-11-03T08:30:00.000Z')
    expect(iso(wallToInstant(LA, wall('2024-11-03T02:00')))).toBe('2024-11-03T10:00:00.000Z')
    expect(iso(wallToInstant('Asia/Kolkata', wall('2024-01-01T00:00:00.250')))).toBe('2023-12-31T18:30:00.250Z')
    expect(iso(wallToInstant('UTC', wall('2024-06-01T12:00')))).toBe('2024-06-01T12:00:00.000Z')
  })

  it('finds the next local midnight, also where midnight itself is skipped', () => {
    expect(iso(nextLocalMidnight(LA, Date.parse('2024-03-10T08:00Z')))).toBe('2024-03-11T07:00:00.000Z')
    expect(iso(nextLocalMidnight(LA, Date.parse('2024-11-03T07:00Z')))).toBe('2024-11-04T08:00:00.000Z')
    expect(iso(nextLocalMidnight(LA, Date.parse('2024-11-04T07:59:59.999Z')))).toBe('2024-11-04T08:00:00.000Z')
    // Santiago went forward at midnight on 2024-09-08: that day began at 01:00 (-03:00)
    expect(iso(nextLocalMidnight('America/Santiago', Date.parse('2024-09-07T12:00Z')))).toBe('2024-09-08T04:00:00.000Z')
  })

  it('gives offsets and writes instants on the zone clocks', () => {
    expect(zoneOffset(LA, Date.parse('2024-01-01T00:00Z')) / 3_600_000).toBe(-8)
    expect(zoneOffset(LA, Date.parse('2024-07-01T00:00Z')) / 3_600_000).toBe(-7)
    expect(formatLocalTime(LA, Date.parse('2024-03-10T08:00Z'))).toBe('2024-03-10T00:00-08:00')
    expect(formatLocalTime(LA, Date.parse('2024-03-11T07:00Z'))).toBe('2024-03-11T00:00-07:00')
    expect(formatLocalTime('Asia/Kolkata', Date.parse('2024-01-01T00:00Z'))).toBe('2024-01-01T05:30+05:30')
    expect(formatLocalTime('UTC', Date.parse('2024-01-01T00:00Z'))).toBe('2024-01-01T00:00Z')
  })
})
