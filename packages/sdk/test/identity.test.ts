import { v5 } from 'uuid'
import { describe, expect, it } from 'vitest'
import { uuid5 } from '../src/identity.js'

const NAMESPACE_DNS = '6ba7b810-9dad-11d1-80b4-00c04fd430c8'
const ROOT = '75503ac2-abf0-11e0-b7d6-0026bb56ec92'

describe('uuid5', () => {
  it('gives what Python uuid.uuid5 gives', () => {
    // uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org'), the example of Python's documentation
    expect(uuid5(NAMESPACE_DNS, 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d')
    // the tutorial's /instrument0/sensor0 under its root
    expect(uuid5(ROOT, '/instrument0/sensor0')).toBe('c2f2cb69-25cc-544c-87cc-3b807c58f63a')
  })

  it('agrees with the uuid package for any name, namespaces in either case, and many namespaces', () => {
    const names = ['', 'a', 'sensor0', 'é', 'Zählerstand ✓', '𝄞 music', 'x'.repeat(5000), '/c1/s2', 'tab\there']
    const spaces = [ROOT, ROOT.toUpperCase(), NAMESPACE_DNS]
    for (let k = 0; k < 300; k++) spaces.push(v5(`ns${k}`, ROOT)) // more than the namespaces kept at once
    for (const ns of spaces) for (const name of names) expect(uuid5(ns, name), `${ns} ${name}`).toBe(v5(name, ns))
  })

  it('refuses a namespace that is not a uuid and a name with half a character', () => {
    expect(() => uuid5('not-a-uuid', 'x')).toThrow(TypeError)
    expect(() => uuid5(ROOT, 'bad \ud800 half')).toThrow(/whole Unicode characters/)
  })
})
