import { request } from './api.js'
import type { Access } from './control.js'
import { h } from './dom.js'
import { age } from './format.js'

interface Channel {
  locations: string[]
  currentLocation: string
  state: string
  backlogReadings: number
  backlogBytes: number
  oldestUndeliveredAgeMs: number | null
  lastSuccess: number | null
  lastError: { message: string; time: number } | null
  writeError: { message: string; time: number } | null
  delivered: number
  deadLetters: number
}

/** A subscription's figures, as `/status` has them under `reports`. */
export interface ReportStatus {
  ReportResource: string
  origin: string
  delivery?: string
  channels: Channel[]
}

const bytes = (n: number): string => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`)

/** The subscriptions: each report's location, backlog, oldest undelivered reading, last success, last error and dead letters (with replay). */
export class ReportsView {
  readonly el = h('div', { class: 'reports' })
  #access: Access = { allowed: false }
  #results = new Map<string, { text: string; cls: string }>()
  #last: Record<string, ReportStatus> = {}
  constructor(private readonly now: () => number) {}

  set access(access: Access) {
    this.#access = access
    this.set(this.#last)
  }

  set(reports: Record<string, ReportStatus>): void {
    this.#last = reports
    const now = this.now()
    const uuids = Object.keys(reports)
    if (uuids.length === 0) {
      this.el.replaceChildren(h('p', { class: 'empty', text: 'No subscriptions: nothing is sent anywhere. Add one with a [report] section or POST /reports.' }))
      return
    }
    const seen = new Set<string>()
    for (const uuid of uuids) {
      seen.add(uuid)
      const r = reports[uuid] as ReportStatus
      let card = this.el.querySelector<HTMLElement>(`[data-report="${CSS.escape(uuid)}"]`)
      if (card === null) {
        card = this.#card(uuid)
        this.el.append(card)
      }
      const channels = card.querySelector('.channels') as HTMLElement
      card.querySelector('.resource')!.textContent = `${r.ReportResource} · ${r.origin}`
      const dead = r.channels.reduce((n, c) => n + c.deadLetters, 0)
      channels.replaceChildren(...r.channels.map((c) => {
        const facts = [
          `${c.backlogReadings} waiting (${bytes(c.backlogBytes)})`,
          c.oldestUndeliveredAgeMs === null ? 'nothing undelivered' : `oldest undelivered ${age(c.oldestUndeliveredAgeMs)}`,
          c.lastSuccess === null ? 'never delivered' : `last delivered ${age(now - c.lastSuccess)}`,
          `${c.delivered} delivered`,
          `${c.deadLetters} dead letters`,
        ]
        const err = c.writeError ?? c.lastError
        return h('div', { class: 'channel', 'data-state': c.state },
          h('p', {}, h('span', { class: 'badge', 'data-state': c.state, text: c.state }), ' ', h('code', { text: c.currentLocation })),
          h('p', { class: 'facts', text: facts.join(' · ') }),
          ...(err ? [h('p', { class: 'last-error', text: `last error ${age(now - err.time)}: ${err.message}` })] : []))
      }))
      const replay = card.querySelector<HTMLButtonElement>('button.replay')!
      replay.hidden = dead === 0
      replay.textContent = `Replay ${dead} dead ${dead === 1 ? 'letter' : 'letters'}`
      replay.disabled = !this.#access.allowed
      replay.title = this.#access.allowed ? 'send them again, in order' : (this.#access.why ?? 'not allowed')
      const result = this.#results.get(uuid)
      const out = card.querySelector('output')!
      out.textContent = result?.text ?? ''
      out.className = `result ${result?.cls ?? ''}`
    }
    for (const card of [...this.el.querySelectorAll<HTMLElement>('[data-report]')]) if (!seen.has(card.dataset.report ?? '')) card.remove()
    this.el.querySelector('p.empty')?.remove()
  }

  #card(uuid: string): HTMLElement {
    const replay = h('button', { type: 'button', class: 'replay' })
    const card = h('article', { class: 'report', 'data-report': uuid },
      h('header', {}, h('h3', {}, h('code', { text: uuid }))),
      h('p', { class: 'resource' }),
      h('div', { class: 'channels' }),
      h('div', { class: 'actions' }, replay, h('output', { class: 'result', 'aria-live': 'polite' })))
    replay.addEventListener('click', async () => {
      replay.disabled = true
      const res = await request<{ replayed: number }>('POST', `/reports/${uuid}/replay`)
      this.#results.set(uuid, res.ok ? { text: `${res.body.replayed} queued again`, cls: 'ok' } : { text: res.error ?? 'refused', cls: 'error' })
      this.set(this.#last)
    })
    return card
  }
}
