import { dataUrl, request } from './api.js'
import { h } from './dom.js'
import { value } from './format.js'
import type { Stream } from './model.js'

/** Sent on the document when the page itself added readings (a write's answer), so they are drawn at once. */
export const READINGS = 'smap-readings'

/** What the page may do, from `GET /access`. */
export interface Access {
  allowed: boolean
  via?: string
  name?: string
  why?: string
}

/** A control a row or the detail view shows for an actuator point. */
export interface Control {
  el: HTMLElement
  /** Shows the device's state as its stream has it (unless the operator is changing it). */
  sync(): void
  /** Enables or disables the control, saying why. */
  permit(access: Access): void
}

/**
 * The control for a point's model: a switch for binary, a select for
 * discrete, a slider with a number box for continuous. A change is written
 * with `PUT /data/PATH?state=`; the answer shows the state the device
 * reached, or the server's error.
 */
export function control(s: Stream): Control | undefined {
  const a = s.actuator
  if (a === undefined) return undefined
  const out = h('output', { class: 'result', 'aria-live': 'polite' })
  const label = `Set ${s.path}`
  let busy = false
  let inputs: Array<HTMLInputElement | HTMLSelectElement | HTMLButtonElement> = []
  let show: (v: unknown) => void
  let editing = false
  const write = async (state: string): Promise<void> => {
    busy = true
    inputs.forEach((i) => (i.disabled = true))
    out.className = 'result pending'
    out.textContent = 'writing…'
    const res = await request<{ State?: unknown; Reading?: [number, unknown] }>('PUT', `${dataUrl(s.path)}?state=${encodeURIComponent(state)}`)
    busy = false
    editing = false
    inputs.forEach((i) => (i.disabled = !allowed))
    if (res.ok) {
      const reached = res.body.State ?? res.body.Reading?.[1]
      if (res.body.Reading) {
        s.add([res.body.Reading])
        document.dispatchEvent(new Event(READINGS))
      }
      out.className = 'result ok'
      out.textContent = `now ${s.label(reached) ?? value(reached)}${s.unit && s.actuator?.Model.startsWith('continuous') ? ` ${s.unit}` : ''}`
    } else {
      out.className = 'result error'
      out.textContent = res.error ?? 'the write failed'
    }
    show(s.lastValue)
  }
  let allowed = false
  const wrap = h('span', { class: 'control', 'data-model': a.Model })
  if (a.Model === 'binary') {
    const box = h('input', { type: 'checkbox', role: 'switch', 'aria-label': label })
    box.addEventListener('change', () => void write(box.checked ? '1' : '0'))
    show = (v) => (box.checked = v === 1 || v === '1')
    inputs = [box]
    wrap.append(h('label', { class: 'switch' }, box, h('span', { class: 'knob', 'aria-hidden': 'true' })))
  } else if (a.Model === 'discrete') {
    const select = h('select', { 'aria-label': label }, ...a.Values.map((v) => h('option', { value: v, text: v })))
    select.addEventListener('change', () => void write(select.value))
    show = (v) => {
      const name = s.label(v)
      if (name !== undefined) select.value = name
    }
    inputs = [select]
    wrap.append(select)
  } else {
    const step = a.Model === 'continuousInteger' ? 1 : (a.StepSize ?? 'any')
    const range = h('input', { type: 'range', min: a.MinValue, max: a.MaxValue, step: step === 'any' ? (a.MaxValue - a.MinValue) / 100 : step, 'aria-label': `${label} (slider)` })
    const box = h('input', { type: 'number', min: a.MinValue, max: a.MaxValue, step, 'aria-label': label, inputmode: 'decimal' })
    const set = h('button', { type: 'button', text: 'Set' })
    range.addEventListener('input', () => {
      editing = true
      box.value = range.value
    })
    range.addEventListener('change', () => void write(range.value))
    box.addEventListener('input', () => (editing = true))
    box.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') void write(box.value)
    })
    set.addEventListener('click', () => void write(box.value))
    show = (v) => {
      if (editing || typeof v !== 'number') return
      range.value = String(v)
      box.value = String(v)
    }
    inputs = [range, box, set]
    wrap.append(range, box, set)
  }
  wrap.append(out)
  show(s.lastValue)
  return {
    el: wrap,
    sync: () => {
      if (!busy) show(s.lastValue)
    },
    permit: (access) => {
      allowed = access.allowed
      for (const i of inputs) {
        i.disabled = busy || !allowed
        if (allowed) i.removeAttribute('title')
        else i.title = access.why ?? 'not allowed'
      }
      wrap.classList.toggle('locked', !allowed)
    },
  }
}
