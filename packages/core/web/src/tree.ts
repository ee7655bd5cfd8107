import { sparkline, type Chart } from './chart.js'
import { control, type Access, type Control } from './control.js'
import { h } from './dom.js'
import { age } from './format.js'
import type { Collection, Stream, Tree } from './model.js'

/** Trees up to this many streams open fully at first; larger ones show the root's children. */
export const OPEN_ALL = 200
/** Items a collection shows before "Show more". */
const PAGE = 200
/** Streams a filter shows at most. */
const MATCHES = 500

interface Row {
  s: Stream
  el: HTMLElement
  value: HTMLElement
  age: HTMLElement
  chart: Chart | undefined
  spark: HTMLElement
  control: Control | undefined
  ageText: string
}

export interface TreeHooks {
  /** The stream's detail view, full size. */
  open(s: Stream): void
  /** What is on screen changed: the streams to follow may be others now. */
  shown(): void
  /** Whether a driver reported the stream stale. */
  stale(path: string): boolean
  /** The server's clock now (Unix ms). */
  now(): number
}

/**
 * The tree of collections and streams. Only what is open is in the DOM: a
 * closed collection's children are made when it opens and removed when it
 * closes, and a collection shows 200 items at a time, so 10,000 streams cost
 * what is on screen.
 */
export class TreeView {
  readonly el = h('div', { class: 'tree' })
  #tree: Tree | undefined
  #open = new Set<string>()
  #more = new Map<string, number>()
  #rows = new Map<string, Row>()
  #filter = ''
  #access: Access = { allowed: false, why: 'checking what this page may do…' }
  constructor(private readonly hooks: TreeHooks) {}

  set tree(tree: Tree) {
    const first = this.#tree === undefined
    this.#tree = tree
    if (first) {
      if (tree.root.count <= OPEN_ALL) for (const p of tree.collections.keys()) this.#open.add(p)
      else this.#open.add('/')
    }
    this.render()
  }

  set filter(text: string) {
    this.#filter = text.trim().toLowerCase()
    this.render()
  }

  set access(access: Access) {
    this.#access = access
    for (const r of this.#rows.values()) r.control?.permit(access)
  }

  /** Whether the stream at `path` is on screen. */
  has(path: string): boolean {
    return this.#rows.has(path)
  }

  /** The streams on screen. */
  get shown(): Stream[] {
    return [...this.#rows.values()].map((r) => r.s)
  }

  render(): void {
    for (const r of this.#rows.values()) r.chart?.destroy()
    this.#rows.clear()
    const tree = this.#tree
    if (tree === undefined) return
    if (tree.root.count === 0 && tree.root.collections.length === 0) {
      this.el.replaceChildren(h('p', { class: 'empty', text: 'This source serves no timeseries yet.' }))
    } else if (this.#filter) {
      this.el.replaceChildren(this.#matches(tree))
    } else {
      const list = h('ul', { class: 'children' })
      this.#children(tree.root, list)
      this.el.replaceChildren(list)
    }
    this.hooks.shown()
    this.draw()
  }

  /** Redraws what changed: values, charts and ages of the rows on screen. */
  draw(): void {
    const now = this.hooks.now()
    for (const r of this.#rows.values()) {
      const s = r.s
      if (s.dirty) {
        s.dirty = false
        const v = s.lastValue
        r.value.textContent = v === undefined ? '—' : s.show(v)
        r.value.title = v === undefined ? 'no reading yet' : String(v)
        if (r.chart === undefined && s.times.length > 0 && r.spark.isConnected) r.chart = sparkline(r.spark, s, 120, 28)
        else r.chart?.update()
        r.control?.sync()
      }
      const t = s.lastTime
      const text = t === undefined ? 'no reading' : age(now - t)
      if (text !== r.ageText) {
        r.ageText = text
        r.age.textContent = text
      }
      r.el.classList.toggle('stale', this.hooks.stale(s.path))
    }
  }

  #children(c: Collection, list: HTMLElement): void {
    const items: Array<Collection | Stream> = [...c.collections, ...c.streams]
    const limit = this.#more.get(c.path) ?? PAGE
    for (const item of items.slice(0, limit)) list.append('streams' in item ? this.#collection(item) : this.#row(item))
    if (items.length > limit) {
      const more = h('button', { type: 'button', class: 'more', text: `Show ${Math.min(PAGE, items.length - limit)} more of ${items.length - limit}` })
      more.addEventListener('click', () => {
        this.#more.set(c.path, limit + PAGE)
        this.render()
        this.el.querySelector<HTMLElement>(`[data-path="${CSS.escape(c.path)}"] > ul > li:nth-child(${limit + 1}) button`)?.focus()
      })
      list.append(h('li', { class: 'more' }, more))
    }
  }

  #collection(c: Collection): HTMLElement {
    const open = this.#open.has(c.path)
    const toggle = h('button', { type: 'button', class: 'twisty', 'aria-expanded': String(open) }, h('span', { class: 'name', text: c.name }), h('span', { class: 'count', text: `${c.count} ${c.count === 1 ? 'stream' : 'streams'}` }))
    const li = h('li', { class: 'collection', 'data-path': c.path }, toggle)
    toggle.addEventListener('click', () => {
      if (this.#open.has(c.path)) this.#open.delete(c.path)
      else this.#open.add(c.path)
      this.render()
      this.el.querySelector<HTMLElement>(`[data-path="${CSS.escape(c.path)}"] > .twisty`)?.focus()
    })
    if (open) {
      const list = h('ul', { class: 'children' })
      this.#children(c, list)
      li.append(list)
    }
    return li
  }

  #row(s: Stream): HTMLElement {
    const name = h('button', { type: 'button', class: 'stream-name', title: `${s.path}: open its chart and metadata` }, s.name)
    name.addEventListener('click', () => this.hooks.open(s))
    const val = h('span', { class: 'value' })
    const ago = h('span', { class: 'age' })
    const spark = h('span', { class: 'spark', 'aria-hidden': 'true' })
    const ctl = control(s)
    ctl?.permit(this.#access)
    const el = h('li', { class: s.actuator ? 'stream actuator' : 'stream', 'data-path': s.path }, name, val, ago, spark, ctl?.el ?? h('span', { class: 'control' }))
    if (s.description) el.title = s.description
    s.dirty = true
    this.#rows.set(s.path, { s, el, value: val, age: ago, chart: undefined, spark, control: ctl, ageText: '' })
    return el
  }

  #matches(tree: Tree): HTMLElement {
    const words = this.#filter.split(/\s+/)
    const found: Stream[] = []
    let total = 0
    for (const s of tree.streams.values()) {
      if (!words.every((w) => s.search.includes(w))) continue
      total++
      if (found.length < MATCHES) found.push(s)
    }
    const out = h('div', { class: 'matches' })
    const summary = total === 0 ? `No stream matches “${this.#filter}”.` : total > found.length ? `${total} streams match; the first ${found.length} are shown, type more to narrow them.` : `${total} ${total === 1 ? 'stream matches' : 'streams match'}.`
    out.append(h('p', { class: 'summary', role: 'status', text: summary }))
    const groups = new Map<string, Stream[]>()
    for (const s of found) {
      const parent = s.path.slice(0, s.path.lastIndexOf('/')) || '/'
      groups.set(parent, [...(groups.get(parent) ?? []), s])
    }
    for (const [parent, streams] of groups) {
      const list = h('ul', { class: 'children' }, ...streams.map((s) => this.#row(s)))
      out.append(h('div', { class: 'group' }, h('h3', { text: parent }), list))
    }
    return out
  }
}
