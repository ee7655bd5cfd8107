import 'uplot/dist/uPlot.min.css'
import './style.css'
import { request, setToken, token } from './api.js'
import { READINGS, type Access } from './control.js'
import { Detail } from './detail.js'
import { DriversView, type DriverStatus } from './drivers.js'
import { h } from './dom.js'
import { Live } from './live.js'
import { buildTree, KEEP, KEEP_HIDDEN, type ResourceJson, type Tree } from './model.js'
import { ReportsView, type ReportStatus } from './reports.js'
import { OPEN_ALL, TreeView } from './tree.js'

/** `GET /events` takes up to 256 resources in a URL of up to 8 KB; past that the page follows everything. */
const MAX_RESOURCES = 256
const MAX_QUERY = 6000
const STATUS_EVERY_MS = 5000

let offset = 0
/** The server's clock, from the event stream's hello: ages are against it, not this machine's. */
const now = (): number => Date.now() + offset

let tree: Tree | undefined
let frame = 0

const drivers = new DriversView(now)
const reports = new ReportsView(now)
const detail = new Detail(now, () => follow())
const view = new TreeView({
  open: (s) => void detail.open(s),
  shown: () => follow(),
  stale: (path) => drivers.stale.has(path),
  now,
})

const live = new Live({
  hello: (hello) => {
    offset = hello.time - Date.now()
    // back after the source was away: it may have restarted with another tree or other tokens
    if (liveState.dataset.state === 'down' || liveState.dataset.state === 'dropped') void Promise.all([loadTree(), loadAccess(), loadStatus()])
    for (const [path, status] of Object.entries(hello.drivers)) drivers.update(path, status)
    rootId.textContent = hello.root
  },
  readings: (batch) => {
    let unknown = false
    const big = (tree?.root.count ?? 0) > OPEN_ALL
    for (const [path, { Readings }] of Object.entries(batch)) {
      const s = tree?.streams.get(path)
      if (s) s.add(Readings, big && !view.has(path) && detail.stream !== s ? KEEP_HIDDEN : KEEP)
      else unknown = true
    }
    if (unknown) reloadSoon()
    schedule()
  },
  driver: (path, status) => drivers.update(path, status),
  state: (state, message) => {
    liveState.dataset.state = state
    liveState.textContent = message
  },
})

/** What to follow: everything for a small tree; else the collections whose streams are on screen, and the open detail. */
function follow(): void {
  if (tree === undefined) return
  if (tree.root.count <= OPEN_ALL) return live.follow(['/+'])
  const parents = new Set<string>()
  for (const s of view.shown) parents.add(s.path.slice(0, s.path.lastIndexOf('/')) || '/')
  const open = detail.stream
  if (open) parents.add(open.path)
  if (parents.size === 0) return live.follow(['/'])
  const streams = [...new Set([...view.shown.map((s) => s.path), ...(open ? [open.path] : [])])]
  // whole collections (shorter), or the streams on screen one by one when that follows fewer
  // streams (one row in each of 100 collections), whichever fits in one request; else everything
  const covered = [...parents].reduce((n, p) => n + (tree?.collections.get(p)?.streams.length ?? 1), 0)
  const choices = streams.length < covered ? [streams, [...parents]] : [[...parents], streams]
  const pick = choices.find((list) => fits(list))
  live.follow(pick ? pick.sort() : ['/+'])
}

/** Whether `/events` takes these resources in one URL. */
function fits(resources: string[]): boolean {
  return resources.length <= MAX_RESOURCES && resources.reduce((n, r) => n + encodeURIComponent(r).length + 10, 0) <= MAX_QUERY
}

function schedule(): void {
  if (frame !== 0) return
  frame = requestAnimationFrame(() => {
    frame = 0
    view.draw()
    detail.draw()
  })
}

let reloading: ReturnType<typeof setTimeout> | undefined
/** A stream the page does not know arrived: the tree grew; read it again (at most every few seconds). */
function reloadSoon(): void {
  reloading ??= setTimeout(() => {
    void loadTree().finally(() => (reloading = undefined))
  }, 3000)
}

async function loadTree(): Promise<void> {
  const res = await request<Record<string, ResourceJson>>('GET', '/data/+')
  if (!res.ok) {
    treeNote.textContent = `could not read the tree: ${res.error ?? ''}`
    return
  }
  tree = buildTree(res.body, tree)
  treeNote.textContent = ''
  document.title = tree.sourceName ? `${tree.sourceName} · sMAP` : 'sMAP source'
  title.textContent = tree.sourceName ?? 'sMAP source'
  streamCount.textContent = `${tree.root.count} ${tree.root.count === 1 ? 'stream' : 'streams'}`
  view.tree = tree
}

async function loadAccess(): Promise<void> {
  const res = await request<{ actuate: Access; reports: Access }>('GET', '/access')
  const actuate: Access = res.ok ? res.body.actuate : { allowed: false, why: `could not ask what this page may do: ${res.error ?? ''}` }
  const manage: Access = res.ok ? res.body.reports : actuate
  view.access = actuate
  detail.access = actuate
  drivers.access = actuate
  reports.access = manage
  accessNote.dataset.allowed = String(actuate.allowed)
  accessNote.textContent = actuate.allowed
    ? `Controls are enabled: you may change equipment (${actuate.via ?? ''} ${actuate.name ?? ''}).`
    : `Controls are disabled: ${actuate.why ?? 'not allowed'}.`
  forget.hidden = token() === null
}

async function loadStatus(): Promise<void> {
  const res = await request<{ drivers: Record<string, DriverStatus>; reports: Record<string, ReportStatus> }>('GET', '/status')
  if (!res.ok) return
  drivers.setAll(res.body.drivers)
  reports.set(res.body.reports)
  schedule()
}

// the page
const title = h('h1', { text: 'sMAP source' })
const rootId = h('code', { class: 'root' })
const streamCount = h('span', { class: 'count' })
const liveState = h('span', { class: 'live', role: 'status', 'data-state': 'connecting', text: 'connecting…' })
const accessNote = h('p', { class: 'access', role: 'status', text: 'checking what this page may do…' })
const tokenInput = h('input', { type: 'password', autocomplete: 'off', placeholder: 'bearer token', 'aria-label': 'Bearer token' })
const useToken = h('button', { type: 'submit', text: 'Use token' })
const forget = h('button', { type: 'button', text: 'Forget token', hidden: true })
const tokenForm = h('form', { class: 'token' }, tokenInput, useToken, forget)
tokenForm.addEventListener('submit', (e) => {
  e.preventDefault()
  setToken(tokenInput.value.trim() || null)
  tokenInput.value = ''
  void loadAccess().then(loadStatus)
})
forget.addEventListener('click', () => {
  setToken(null)
  void loadAccess().then(loadStatus)
})
const filter = h('input', { type: 'search', class: 'filter', placeholder: 'Filter by path or metadata, e.g. "thermostat" or "kW"', 'aria-label': 'Filter streams by path or metadata' })
let filterTimer: ReturnType<typeof setTimeout> | undefined
filter.addEventListener('input', () => {
  clearTimeout(filterTimer)
  filterTimer = setTimeout(() => (view.filter = filter.value), 150)
})
const treeNote = h('p', { class: 'note', role: 'status' })

document.body.append(
  h('header', { class: 'top' }, h('div', { class: 'title' }, title, streamCount, liveState), rootId, h('div', { class: 'who' }, accessNote, h('details', {}, h('summary', { text: 'Token' }), tokenForm))),
  h('main', {},
    h('section', { class: 'streams', 'aria-labelledby': 'streams-h' }, h('h2', { id: 'streams-h', text: 'Streams' }), filter, treeNote, view.el),
    h('aside', {},
      h('section', { 'aria-labelledby': 'drivers-h' }, h('h2', { id: 'drivers-h', text: 'Drivers' }), drivers.el),
      h('section', { 'aria-labelledby': 'reports-h' }, h('h2', { id: 'reports-h', text: 'Subscriptions' }), reports.el))),
  detail.el,
)

document.addEventListener(READINGS, schedule)
setInterval(() => {
  view.draw()
  detail.draw()
  drivers.draw()
}, 1000)
setInterval(() => {
  if (!document.hidden) void loadStatus()
}, STATUS_EVERY_MS)
void Promise.all([loadAccess(), loadTree(), loadStatus()])
