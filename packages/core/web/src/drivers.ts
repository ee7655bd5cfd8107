import { driverUrl, request } from './api.js'
import type { Access } from './control.js'
import { h } from './dom.js'
import { age } from './format.js'

/** A driver's status, as `/status` and `GET /drivers` have it. */
export interface DriverStatus {
  driver: string
  state: string
  restarts: number
  lastError: { message: string; phase: string; time: number } | null
  lastReadingTime: number | null
  health: { healthy: boolean; message?: string; stale?: string[]; since: number } | null
  nextAttempt: number | null
  disabled: boolean
}

interface Card {
  el: HTMLElement
  state: HTMLElement
  facts: HTMLElement
  error: HTMLElement
  restart: HTMLButtonElement
  enabled: HTMLInputElement
  result: HTMLOutputElement
  busy: boolean
}

/** The drivers: state, restarts, last error, health and stale streams, with a restart button and an enable switch. */
export class DriversView {
  readonly el = h('div', { class: 'drivers' })
  #cards = new Map<string, Card>()
  #status: Record<string, DriverStatus> = {}
  #access: Access = { allowed: false }
  constructor(private readonly now: () => number) {}

  /** The stale streams every driver reported, by full path. */
  readonly stale = new Set<string>()

  set access(access: Access) {
    this.#access = access
    for (const [path, c] of this.#cards) this.#fill(path, c)
  }

  /** All drivers at once (from `/status`). */
  setAll(all: Record<string, DriverStatus>): void {
    this.#status = { ...all }
    for (const path of [...this.#cards.keys()]) {
      if (!(path in all)) {
        this.#cards.get(path)?.el.remove()
        this.#cards.delete(path)
      }
    }
    for (const path of Object.keys(all).sort()) this.update(path, all[path] as DriverStatus)
    if (Object.keys(all).length === 0) this.el.replaceChildren(h('p', { class: 'empty', text: 'No drivers are attached: this source is fed by code or by POSTs.' }))
    else this.el.querySelector('p.empty')?.remove()
  }

  /** One driver changed (an event). */
  update(path: string, status: DriverStatus): void {
    this.#status[path] = status
    let card = this.#cards.get(path)
    if (card === undefined) {
      card = this.#card(path)
      this.#cards.set(path, card)
      const after = [...this.#cards.keys()].sort().indexOf(path)
      const next = [...this.#cards.keys()].sort()[after + 1]
      this.el.insertBefore(card.el, next === undefined ? null : (this.#cards.get(next)?.el ?? null))
    }
    this.#fill(path, card)
    this.stale.clear()
    for (const s of Object.values(this.#status)) for (const p of s.health?.stale ?? []) this.stale.add(p)
  }

  /** Refreshes the ages. */
  draw(): void {
    for (const [path, c] of this.#cards) this.#fill(path, c)
  }

  #card(path: string): Card {
    const state = h('span', { class: 'badge' })
    const restart = h('button', { type: 'button', class: 'restart', text: 'Restart' })
    const enabled = h('input', { type: 'checkbox', role: 'switch', 'aria-label': `Enable the driver at ${path}` })
    const result = h('output', { class: 'result', 'aria-live': 'polite' })
    const facts = h('p', { class: 'facts' })
    const error = h('p', { class: 'last-error' })
    const el = h('article', { class: 'driver', 'data-driver': path },
      h('header', {}, h('h3', { text: path }), state),
      facts, error,
      h('div', { class: 'actions' }, restart, h('label', { class: 'switch' }, enabled, h('span', { class: 'knob', 'aria-hidden': 'true' }), h('span', { text: 'Enabled' })), result))
    const card: Card = { el, state, facts, error, restart, enabled, result, busy: false }
    const act = async (method: string, url: string, done: string): Promise<void> => {
      card.busy = true
      this.#fill(path, card)
      card.result.className = 'result pending'
      card.result.textContent = method === 'POST' ? 'restarting…' : 'changing…'
      const res = await request<DriverStatus>(method, url)
      card.busy = false
      if (res.ok) {
        this.update(path, res.body)
        card.result.className = 'result ok'
        card.result.textContent = done
      } else {
        card.result.className = 'result error'
        card.result.textContent = res.error ?? 'refused'
        this.#fill(path, card)
      }
    }
    restart.addEventListener('click', () => void act('POST', `${driverUrl(path)}/restart`, 'restarted'))
    enabled.addEventListener('change', () => void act('PUT', `${driverUrl(path)}?enabled=${enabled.checked}`, enabled.checked ? 'enabled' : 'disabled: kept so across restarts'))
    return card
  }

  #fill(path: string, c: Card): void {
    const s = this.#status[path]
    if (s === undefined) return
    const now = this.now()
    c.state.textContent = s.state
    c.state.dataset.state = s.state
    c.el.dataset.state = s.state
    const facts = [s.driver, `${s.restarts} ${s.restarts === 1 ? 'restart' : 'restarts'}`, s.lastReadingTime === null ? 'no reading yet' : `last reading ${age(now - s.lastReadingTime)}`]
    if (s.nextAttempt !== null && s.nextAttempt > now) facts.push(`next attempt ${age(now - s.nextAttempt)}`)
    if (s.health) facts.push(s.health.healthy ? 'healthy' : `unhealthy${s.health.message ? `: ${s.health.message}` : ''}`)
    const stale = s.health?.stale ?? []
    if (stale.length > 0) facts.push(`${stale.length} stale: ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}`)
    c.facts.textContent = facts.join(' · ')
    c.error.textContent = s.lastError ? `last error (${s.lastError.phase}, ${age(now - s.lastError.time)}): ${s.lastError.message}` : ''
    c.error.hidden = s.lastError === null
    const why = this.#access.allowed ? '' : (this.#access.why ?? 'not allowed')
    c.restart.disabled = c.busy || !this.#access.allowed || s.disabled
    c.restart.title = why || (s.disabled ? 'enable the driver to start it' : 'stop it and start it again now')
    if (!c.busy) c.enabled.checked = !s.disabled
    c.enabled.disabled = c.busy || !this.#access.allowed
    c.enabled.title = why || (s.disabled ? 'disabled: enable it to start it' : 'disable it: it stops, and stays stopped across restarts')
  }
}
