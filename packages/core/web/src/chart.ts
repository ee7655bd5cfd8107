import uPlot from 'uplot'
import type { Stream } from './model.js'

/** The stream's readings as uPlot data: seconds on x, numbers (or gaps) on y. */
function series(s: Stream): uPlot.AlignedData {
  const xs = s.times.map((t) => t / 1000)
  const ys = s.values.map((v) => (typeof v === 'number' && Number.isFinite(v) ? v : null))
  return [xs, ys]
}

const stroke = (): string => getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#2266cc'

/** A chart of one stream that can be redrawn with its latest readings. */
export interface Chart {
  update(): void
  resize(width: number, height: number): void
  destroy(): void
}

/** A small line without axes, for a row of the tree. */
export function sparkline(el: HTMLElement, s: Stream, width: number, height: number): Chart {
  const plot = new uPlot({
    width,
    height,
    pxAlign: false,
    cursor: { show: false },
    legend: { show: false },
    select: { show: false, left: 0, top: 0, width: 0, height: 0 },
    scales: { x: { time: true } },
    axes: [{ show: false }, { show: false }],
    series: [{}, { stroke: stroke(), width: 1.5, points: { show: false }, spanGaps: false }],
  }, series(s), el)
  return chart(plot, s, el)
}

/** A full chart with time and value axes and a legend that follows the cursor. */
export function fullChart(el: HTMLElement, s: Stream, width: number, height: number): Chart {
  const plot = new uPlot({
    width,
    height,
    scales: { x: { time: true } },
    series: [{}, { label: s.unit ? `${s.name} (${s.unit})` : s.name, stroke: stroke(), width: 2, points: { show: s.times.length < 120 } }],
    axes: [{}, { size: 60 }],
  }, series(s), el)
  return chart(plot, s, el)
}

function chart(plot: uPlot, s: Stream, el: HTMLElement): Chart {
  const mark = (): void => {
    el.dataset.points = String(s.times.length)
    el.dataset.last = String(s.lastTime ?? '')
  }
  mark()
  return {
    update: () => {
      plot.setData(series(s))
      mark()
    },
    resize: (width, height) => plot.setSize({ width, height }),
    destroy: () => plot.destroy(),
  }
}
