import { describe, expect, it } from 'vitest'
import { brokerFor, mqttClientId, mqttMessages, mqttTopics, parseMqttLocation, MQTT_READINGS_PER_MESSAGE } from '../../src/reporting/transports/mqtt.js'
import { checkLocation } from '../../src/reporting/subscription.js'

const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

describe('MQTT delivery, without a broker', () => {
  it('reads a location as broker and prefix, and names the topics of a path', () => {
    expect(parseMqttLocation('mqtt://broker:1884/campus/smap/')).toEqual({ broker: 'mqtt://broker:1884', prefix: 'campus/smap' })
    expect(parseMqttLocation('mqtts://broker')).toEqual({ broker: 'mqtts://broker', prefix: '' })
    expect(mqttTopics('smap', ROOT, '/a/b')).toEqual({ data: `smap/${ROOT}/a/b`, meta: `smap/meta/${ROOT}/a/b` })
    expect(mqttTopics('', ROOT, '/')).toEqual({ data: ROOT, meta: `meta/${ROOT}` })
  })

  it('refuses a location with credentials or wildcards, saying what to do', () => {
    expect(checkLocation('mqtt://me:pw@broker/smap')).toBe('"mqtt://***@broker/smap" has a user or password in it (not repeated here): credentials never go in a location; give them in a [broker] section')
    expect(checkLocation('mqtt://broker/smap/#')).toMatch(/cannot hold the wildcards # or \+/)
    expect(checkLocation('mqtt://broker/smap/+/x')).toMatch(/cannot hold the wildcards/)
    expect(checkLocation('ftp://broker/x')).toMatch(/must be an http:\/\/ or https:\/\/ URL, or a broker's mqtt:\/\/ or mqtts:\/\/ URL/)
    expect(checkLocation('mqtts://broker:8883/smap')).toBeUndefined()
  })

  it('splits a body into a message per stream, full objects retained on meta topics, long runs in parts', () => {
    const long = Array.from({ length: MQTT_READINGS_PER_MESSAGE + 5 }, (_, i) => [i, i])
    const messages = mqttMessages({
      '/m': { Contents: ['p'] },
      '/m/p': { uuid: 'u1', Properties: { UnitofMeasure: 'W' }, Readings: [[1, 2]] },
      '/m/q': { uuid: 'u2', Readings: long },
    } as never, 'smap', ROOT)
    expect(messages.map((m) => [m.topic, m.retain])).toEqual([
      [`smap/meta/${ROOT}/m`, true],
      [`smap/meta/${ROOT}/m/p`, true],
      [`smap/${ROOT}/m/p`, false],
      [`smap/${ROOT}/m/q`, false],
      [`smap/${ROOT}/m/q`, false],
    ])
    expect(JSON.parse(messages[1]?.payload ?? '')).toEqual({ '/m/p': { uuid: 'u1', Properties: { UnitofMeasure: 'W' }, Readings: [] } })
    expect(JSON.parse(messages[2]?.payload ?? '')['/m/p'].Properties).toEqual({ UnitofMeasure: 'W' })
    expect(JSON.parse(messages[4]?.payload ?? '')).toEqual({ '/m/q': { uuid: 'u2', Readings: long.slice(MQTT_READINGS_PER_MESSAGE) } })
  })

  it('derives a client id per source, report and location, and finds the login by scheme, host and port', () => {
    const id = mqttClientId(ROOT, 'r1', 'mqtt://b/x')
    expect(id).toMatch(/^smap-[0-9a-f]{18}$/)
    expect(id).toBe(mqttClientId(ROOT, 'r1', 'mqtt://b/x'))
    expect(id).not.toBe(mqttClientId(ROOT, 'r2', 'mqtt://b/x'))
    const brokers = [{ name: 'a', url: 'mqtt://broker.example.com' }, { name: 'b', url: 'mqtts://broker.example.com:8883' }]
    expect(brokerFor('mqtt://BROKER.example.com:1883/smap', brokers)?.name).toBe('a')
    expect(brokerFor('mqtts://broker.example.com/smap', brokers)?.name).toBe('b')
    expect(brokerFor('mqtt://broker.example.com:1884/smap', brokers)).toBeUndefined()
  })
})
