/**
 * The HTML of `mixppl report`: one self-contained file with the model source, the fit
 * settings, the summary table (and any further tables) and Vega-Lite plots. The vega,
 * vega-lite and vega-embed browser builds are read from the installed npm packages and
 * inlined, so the file opens offline; each plot's specification sits in a
 * `<script type="application/json">` element and is rendered to SVG by vega-embed when the
 * page loads.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { VlSpec } from './specs';

/** One plot of the report. */
export interface ReportPlot {
  /** Identifier used in element ids (letters, digits, '-'). */
  id: string;
  title: string;
  /** A sentence on how to read the plot. */
  caption?: string;
  spec: VlSpec;
}

/** Everything a report shows. */
export interface ReportData {
  title: string;
  /** The model file's name and text (left out, e.g. by an SBC report, the section is not shown). */
  modelFile?: string;
  modelSource?: string;
  /** Fit settings, as (name, value) rows. */
  settings: [string, string][];
  /** Heading of the settings table (default 'Fit settings'). */
  settingsTitle?: string;
  /** Lines about the run (method, time, diagnostics). */
  notes: string[];
  warnings: string[];
  /** The summary table. */
  table: { columns: string[]; rows: (string | number)[][] };
  /** More tables, after the summary (e.g. the VI guide's parameters). */
  extraTables?: { title: string; caption?: string; columns: string[]; rows: (string | number)[][] }[];
  plots: ReportPlot[];
}

/** The browser builds that are inlined. */
export interface VegaLibraries {
  vega: string;
  vegaLite: string;
  vegaEmbed: string;
}

/** The npm package and file of each library's browser (UMD) build. */
export const VEGA_BUILDS: Record<keyof VegaLibraries, [pkg: string, file: string]> = {
  vega: ['vega', 'build/vega.min.js'],
  vegaLite: ['vega-lite', 'build/vega-lite.min.js'],
  vegaEmbed: ['vega-embed', 'build/vega-embed.min.js'],
};

/** The folder of an installed package, found as Node does: node_modules of this folder and its parents. */
function packageDir(pkg: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'node_modules', pkg);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const up = dirname(dir);
    if (up === dir) throw new Error(`mixppl report: the npm package '${pkg}' is not installed (run npm install)`);
    dir = up;
  }
}

/** Reads the vega, vega-lite and vega-embed browser builds from node_modules. */
export function loadVegaLibraries(): VegaLibraries {
  const read = ([pkg, file]: [string, string]) => readFileSync(join(packageDir(pkg), file), 'utf8');
  return { vega: read(VEGA_BUILDS.vega), vegaLite: read(VEGA_BUILDS.vegaLite), vegaEmbed: read(VEGA_BUILDS.vegaEmbed) };
}

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** JSON that is safe inside a `<script>` element (no `</script>`, no `<!--`). */
export function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** JavaScript source made safe inside a `<script>` element. */
function scriptSource(js: string): string {
  return js.replace(/<\/script/gi, '<\\/script').replace(/<!--/g, '<\\!--');
}

function cell(v: string | number): string {
  if (typeof v === 'string') return `<td>${escapeHtml(v)}</td>`;
  if (!Number.isFinite(v)) return '<td class="num">NA</td>';
  const a = Math.abs(v);
  const s = Number.isInteger(v) && a < 1e7 ? String(v) : a !== 0 && (a >= 1e5 || a < 1e-3) ? v.toExponential(3) : v.toFixed(3);
  return `<td class="num">${s}</td>`;
}

const CSS = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 12.5px; }
table { border-collapse: collapse; font-size: 12.5px; }
td, th { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.warning { color: #a15c00; }
.plot { margin: 0.5em 0 1.5em; overflow-x: auto; }
.caption { color: #555; font-size: 12.5px; }
.plot-error { color: #b00; white-space: pre-wrap; }
`;

/**
 * Renders every `.plot` element from its JSON spec; marks it `data-rendered` or `data-error`.
 * mode is given because vega-embed guesses Vega (not Vega-Lite) for a top-level `concat`.
 */
const RENDER = `
(function () {
  var plots = document.querySelectorAll('.plot[data-spec]');
  var pending = [];
  plots.forEach(function (el) {
    var spec = JSON.parse(document.getElementById(el.getAttribute('data-spec')).textContent);
    pending.push(vegaEmbed(el, spec, { mode: 'vega-lite', actions: false, renderer: 'svg' }).then(function () {
      el.setAttribute('data-rendered', 'true');
    }, function (err) {
      el.setAttribute('data-error', String(err));
      var p = document.createElement('p');
      p.className = 'plot-error';
      p.textContent = 'this plot failed to render: ' + err;
      el.appendChild(p);
      console.error('mixppl report: plot ' + el.id + ': ' + err);
    }));
  });
  Promise.all(pending).then(function () { document.body.setAttribute('data-plots-done', 'true'); });
})();
`;

/** Builds the whole HTML document; `libs` defaults to the installed builds. */
export function buildReportHtml(data: ReportData, libs: VegaLibraries = loadVegaLibraries()): string {
  const parts: string[] = [];
  parts.push('<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">');
  parts.push(`<title>${escapeHtml(data.title)}</title>`, `<style>${CSS}</style>`);
  parts.push(`<script>${scriptSource(libs.vega)}</script>`);
  parts.push(`<script>${scriptSource(libs.vegaLite)}</script>`);
  parts.push(`<script>${scriptSource(libs.vegaEmbed)}</script>`);
  parts.push('</head>', '<body>', `<h1>${escapeHtml(data.title)}</h1>`);
  if (data.notes.length) parts.push('<ul class="notes">' + data.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('') + '</ul>');
  if (data.warnings.length) parts.push('<ul class="warnings">' + data.warnings.map((w) => `<li class="warning">warning: ${escapeHtml(w)}</li>`).join('') + '</ul>');
  parts.push(`<h2>${escapeHtml(data.settingsTitle ?? 'Fit settings')}</h2>`, '<table class="settings">');
  for (const [k, v] of data.settings) parts.push(`<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`);
  parts.push('</table>');
  if (data.modelSource !== undefined) {
    parts.push(`<h2>Model <code>${escapeHtml(data.modelFile ?? '')}</code></h2>`, `<pre class="model-source">${escapeHtml(data.modelSource)}</pre>`);
  }
  parts.push('<h2>Summary</h2>', '<table class="summary">');
  parts.push('<tr>' + data.table.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('') + '</tr>');
  for (const row of data.table.rows) parts.push('<tr>' + row.map(cell).join('') + '</tr>');
  parts.push('</table>');
  for (const t of data.extraTables ?? []) {
    parts.push(`<h2>${escapeHtml(t.title)}</h2>`);
    if (t.caption) parts.push(`<p class="caption">${escapeHtml(t.caption)}</p>`);
    parts.push('<table class="extra">', '<tr>' + t.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('') + '</tr>');
    for (const row of t.rows) parts.push('<tr>' + row.map(cell).join('') + '</tr>');
    parts.push('</table>');
  }
  for (const p of data.plots) {
    if (!/^[A-Za-z0-9-]+$/.test(p.id)) throw new RangeError(`report plot id '${p.id}': use letters, digits and '-'`);
    parts.push(`<h2>${escapeHtml(p.title)}</h2>`);
    if (p.caption) parts.push(`<p class="caption">${escapeHtml(p.caption)}</p>`);
    parts.push(`<div class="plot" id="plot-${p.id}" data-spec="spec-${p.id}"></div>`);
    parts.push(`<script type="application/json" id="spec-${p.id}">${scriptJson(p.spec)}</script>`);
  }
  parts.push(`<script>${RENDER}</script>`, '</body>', '</html>', '');
  return parts.join('\n');
}
