import { dataUrl, request } from './api.js'
import { fullChart, type Chart } from './chart.js'
import { control, type Access, type Control } from './control.js'
import { h } from './dom.js'
import { age, clock } from './format.js'
import type { ResourceJson, Stream } from './model.js'

/**
 * One stream full size, in a modal dialog: a chart of the readings the
 * server keeps for it (its BufferSize) and those the page has seen since it
 * opened, live; its metadata as merged down the tree; its control.
 */
export class Detail {
  readonly el = h('dialog', { class: 'detail', 'aria-labelledby': 'detail-title' })
  #stream: Stream | undefined
  #chart: Chart | undefined
  #control: Control | undefined
  #latest = h('p', { class: 'latest' })
  #note = h('p', { class: 'note' })
  #access: Access = { allowed: false }
  #drawn = ''
  constructor(private readonly now: () => number, private readonly changed: () => void) {
    this.el.addEventListener('close', () => {
      this.#chart?.destroy()
      this.#chart = undefined
      this.#stream = undefined
      this.changed()
    })
    window.addEventListener('resize', () => this.#fit())
  }

  get stream(): Stream | undefined {
    return this.#stream
  }

  set access(access: Access) {
    this.#access = access
    this.#control?.permit(access)
  }

  async open(s: Stream): Promise<void> {
    this.#chart?.destroy()
    this.#stream = s
    const close = h('button', { type: 'button', class: 'close', 'aria-label': 'Close', text: '×' })
    close.addEventListener('click', () => this.el.close())
    const plot = h('div', { class: 'plot', 'data-path': s.path })
    this.#control = control(s)
    this.#control?.permit(this.#access)
    const meta = h('dl', { class: 'meta' })
    for (const [k, v] of [['Path', s.path], ['uuid', s.uuid], ...(s.description ? [['Description', s.description]] : []), ...s.meta] as Array<[string, string]>) meta.append(h('dt', { text: k }), h('dd', { text: v }))
    this.el.replaceChildren(
      h('header', {}, h('h2', { id: 'detail-title', text: s.path }), close),
      this.#latest,
      plot,
      this.#note,
      ...(this.#control ? [h('div', { class: 'detail-control' }, this.#control.el)] : []),
      meta,
    )
    if (!this.el.open) this.el.showModal()
    this.#chart = fullChart(plot, s, ...this.#size())
    this.#drawn = ''
    this.#note.textContent = 'loading the server’s buffer…'
    this.changed()
    const res = await request<ResourceJson>('GET', dataUrl(s.path))
    if (this.#stream !== s) return
    if (res.ok) s.add(res.body.Readings ?? [])
    this.#note.textContent = res.ok ? `${res.body.Readings?.length ?? 0} readings from the server’s buffer, then live` : `could not read the server’s buffer: ${res.error ?? ''}`
    this.draw()
  }

  draw(): void {
    const s = this.#stream
    if (s === undefined) return
    const drawn = `${s.times.length}:${s.lastTime ?? ''}:${String(s.lastValue)}`
    if (drawn !== this.#drawn) {
      this.#drawn = drawn
      this.#chart?.update()
      this.#control?.sync()
    }
    const t = s.lastTime
    const v = s.lastValue
    this.#latest.textContent = t === undefined ? 'no reading yet' : `${s.show(v)} · ${age(this.now() - t)} (${clock(t)}) · ${s.times.length} readings shown`
  }

  #size(): [number, number] {
    const width = Math.max(260, Math.min(960, window.innerWidth - 64))
    return [width, Math.round(Math.min(420, Math.max(200, window.innerHeight * 0.45)))]
  }

  #fit(): void {
    this.#chart?.resize(...this.#size())
  }
}
