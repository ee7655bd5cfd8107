import { expect, it } from 'vitest'
import { readBytes, writeBytes } from '../../src/config/values.js'
it('MaxOutboxBytes round-trips through dump', () => {
  for (const n of [1_000_000_000, 1234567890, 5 * 1024 ** 3 + 1]) {
    const text = writeBytes(n)
    const back = readBytes(text, 1024 * 1024, { file: 'x' } as never)
    expect(back).toBe(n)
  }
})
