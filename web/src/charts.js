// Charts and the map: ECharts (only the parts used, so the bundle stays
// small) and the outline of India from @svg-maps/india (CC BY 4.0, from
// MapSVG; see NOTICE), drawn by ECharts as an SVG map. Nothing is fetched:
// the outline is in the bundle.
import india from '@svg-maps/india';
import { BarChart, LineChart, ScatterChart } from 'echarts/charts';
import {
  AriaComponent, GeoComponent, GridComponent, LegendComponent, MarkAreaComponent, MarkLineComponent,
  TooltipComponent, VisualMapComponent,
} from 'echarts/components';
import { init, registerMap, use } from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';

use([BarChart, LineChart, ScatterChart, AriaComponent, GeoComponent, GridComponent,
  LegendComponent, MarkAreaComponent, MarkLineComponent, TooltipComponent, VisualMapComponent, CanvasRenderer]);

export const palette = ['#1f5f8b', '#d9822b', '#2e8b57', '#b5338a', '#6a5acd', '#8c6d1f',
  '#c0392b', '#138d90', '#7f8c8d', '#4b7b2b', '#a0522d', '#34495e'];

const live = new Set();

/* A chart in container (which gets role="img" and the given label, so
 * screen readers get a name; ECharts' aria adds a description). */
export function chart(container, label, option) {
  container.setAttribute('role', 'img');
  container.setAttribute('aria-label', label);
  // data-drawn: set once the chart has rendered and its animation ended
  // (the tests wait for it instead of for a time)
  delete container.dataset.drawn;
  const c = init(container, null, { renderer: 'canvas' });
  c.on('finished', () => {
    container.dataset.drawn = 'true';
  });
  c.setOption({
    aria: { enabled: true, label: { description: label } },
    color: palette,
    textStyle: { fontFamily: 'system-ui, sans-serif' },
    animationDuration: 300,
    ...option,
  });
  // ECharts' aria replaces the label with its own description of the data:
  // keep ours in front.
  const described = container.getAttribute('aria-label');
  if (described && !described.startsWith(label)) container.setAttribute('aria-label', `${label}. ${described}`);
  live.add(c);
  return c;
}

/* Disposes one chart (before drawing its container anew). */
export function disposeChart(c) {
  if (c && live.has(c)) {
    live.delete(c);
    c.dispose();
  }
}

/* Disposes every chart (the panel is being replaced). */
export function disposeCharts() {
  for (const c of live) c.dispose();
  live.clear();
}

window.addEventListener('resize', () => {
  for (const c of live) c.resize();
});

// ---- the map ----

/* Where a latitude and longitude fall on the outline. The outline is in a
 * Mercator projection; the scale and offsets were fitted to the extents
 * of the states' pincodes in the gazetteer (web/tools/fit-map.mjs: 3 px
 * rms on the 612 x 696 drawing). */
const K = 21.146285;
const X0 = -1444.695090;
const Y0 = 841.429017;
export function project(lat, lng) {
  const merc = (Math.log(Math.tan(Math.PI / 4 + (lat * Math.PI) / 360)) * 180) / Math.PI;
  return [K * lng + X0, Y0 - K * merc];
}

let registered = false;
export function registerIndia() {
  if (registered) return;
  const [, , w, hgt] = india.viewBox.split(' ').map(Number);
  const paths = india.locations
    .map((l) => `<path name="${l.name.replace(/[<>"&]/g, '')}" d="${l.path}"/>`)
    .join('');
  registerMap('india', {
    svg: `<svg xmlns="http://www.w3.org/2000/svg" viewBox="${india.viewBox}" width="${w}" height="${hgt}">${paths}</svg>`,
  });
  registered = true;
}
