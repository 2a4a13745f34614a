/**
 * Vega-Lite specifications for `mixppl report`: trace, rank, marginal density and pair
 * plots of MCMC draws; the data with the fitted mixture (1-D: histogram and density; 2-D:
 * scatter and component ellipses); the most probable state path of an HMM. Each builder
 * returns a plain JSON object with its data inlined, so that a report is one file.
 *
 * Field names in the specs are plain identifiers (Vega-Lite reads dots and brackets in a
 * field name as nested access); quantity names such as `mu.1` appear only as values.
 */

/** A Vega-Lite specification (plain JSON). */
export type VlSpec = Record<string, unknown>;

/** Draws of one scalar quantity, one array per chain. */
export interface QuantityDraws {
  name: string;
  chains: ArrayLike<number>[];
}

/** One Gaussian mixture component (1-D: `mean` and `cov` of length 1 / 1x1). */
export interface Component {
  weight: number;
  mean: number[];
  /** Covariance matrix, D x D. */
  cov: number[][];
}

const WIDTH = 260;
const HEIGHT = 110;

/** Rounds to 6 significant digits, to keep the inlined data small. */
function r6(x: number): number | null {
  return Number.isFinite(x) ? Number(x.toPrecision(6)) : null;
}

/** Keeps every step-th draw so that a chain has at most `max` points. */
function thinIndex(n: number, max: number): number[] {
  const step = Math.max(1, Math.ceil(n / max));
  const out: number[] = [];
  for (let i = 0; i < n; i += step) out.push(i);
  return out;
}

/** Trace plots: one panel per quantity, iterations on x, chains coloured. */
export function traceSpec(qs: readonly QuantityDraws[], maxPoints = 500): VlSpec {
  const values: Record<string, unknown>[] = [];
  for (const q of qs) {
    q.chains.forEach((c, ci) => {
      for (const i of thinIndex(c.length, maxPoints)) values.push({ quantity: q.name, chain: String(ci + 1), iteration: i + 1, value: r6(c[i]) });
    });
  }
  return {
    description: 'trace plots',
    data: { values },
    facet: { row: { field: 'quantity', type: 'nominal', sort: qs.map((q) => q.name), header: { labelAngle: 0, labelAlign: 'left', title: null } } },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: 2 * WIDTH,
      height: 70,
      mark: { type: 'line', strokeWidth: 0.8, opacity: 0.8 },
      encoding: {
        x: { field: 'iteration', type: 'quantitative', title: 'iteration' },
        y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
        color: { field: 'chain', type: 'nominal', title: 'chain' },
      },
    },
  };
}

/**
 * Fractional ranks (1-based, ties averaged) of every draw among the pooled draws of all
 * chains, returned per chain.
 */
export function pooledRanks(chains: readonly ArrayLike<number>[]): number[][] {
  const all: { v: number; c: number; i: number }[] = [];
  chains.forEach((c, ci) => {
    for (let i = 0; i < c.length; i++) all.push({ v: c[i], c: ci, i });
  });
  all.sort((a, b) => a.v - b.v);
  const out = chains.map((c) => new Array<number>(c.length).fill(0));
  for (let s = 0; s < all.length;) {
    let e = s;
    while (e + 1 < all.length && all[e + 1].v === all[s].v) e++;
    const rank = (s + e) / 2 + 1;
    for (let j = s; j <= e; j++) out[all[j].c][all[j].i] = rank;
    s = e + 1;
  }
  return out;
}

/**
 * Rank plots (Vehtari et al. 2021): per quantity and chain, the histogram of the ranks of
 * the chain's draws among all draws; for well-mixed chains every histogram is flat. The
 * dashed rule is the expected count per bin.
 */
export function rankSpec(qs: readonly QuantityDraws[], bins = 20): VlSpec {
  const values: Record<string, unknown>[] = [];
  const expected: Record<string, unknown>[] = [];
  for (const q of qs) {
    const ranks = pooledRanks(q.chains);
    const total = ranks.reduce((a, c) => a + c.length, 0);
    ranks.forEach((rs, ci) => {
      const counts = new Array<number>(bins).fill(0);
      for (const r of rs) counts[Math.min(bins - 1, Math.floor(((r - 1) / total) * bins))]++;
      counts.forEach((n, b) => values.push({ quantity: q.name, chain: String(ci + 1), bin: b, rank0: (b / bins) * total, rank1: ((b + 1) / bins) * total, count: n }));
      expected.push({ quantity: q.name, chain: String(ci + 1), expected: rs.length / bins });
    });
  }
  return {
    description: 'rank plots',
    data: { values },
    facet: {
      row: { field: 'quantity', type: 'nominal', sort: qs.map((q) => q.name), header: { labelAngle: 0, labelAlign: 'left', title: null } },
      column: { field: 'chain', type: 'nominal', title: 'chain' },
    },
    spec: {
      width: 150,
      height: 60,
      layer: [
        {
          mark: { type: 'rect', stroke: 'white', strokeWidth: 0.5 },
          encoding: {
            x: { field: 'rank0', type: 'quantitative', title: 'rank' },
            x2: { field: 'rank1' },
            y: { field: 'count', type: 'quantitative', title: null },
            color: { field: 'chain', type: 'nominal', legend: null },
          },
        },
        {
          transform: [{ aggregate: [{ op: 'mean', field: 'count', as: 'expected' }], groupby: ['quantity', 'chain'] }],
          mark: { type: 'rule', strokeDash: [4, 3], color: 'black' },
          encoding: { y: { field: 'expected', type: 'quantitative' } },
        },
      ],
    },
  };
}

/**
 * Marginal posterior densities (Vega-Lite's kernel density transform), chains coloured:
 * one panel per quantity, each with its own data and extent (the transform's default
 * extent is that of all its input, which would squash quantities on small scales).
 */
export function densitySpec(qs: readonly QuantityDraws[], maxPoints = 1000): VlSpec {
  // One set of draws (VI, SMC): no chain legend.
  const single = qs.every((q) => q.chains.length === 1);
  const panels = qs.map((q) => {
    const values: Record<string, unknown>[] = [];
    let lo = Infinity;
    let hi = -Infinity;
    q.chains.forEach((c, ci) => {
      for (const i of thinIndex(c.length, maxPoints)) {
        const v = c[i];
        if (!Number.isFinite(v)) continue;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
        values.push({ chain: String(ci + 1), value: r6(v) });
      }
    });
    const pad = 0.05 * (hi - lo || Math.abs(lo) || 1);
    return {
      title: q.name,
      width: 200,
      height: 100,
      data: { values },
      transform: [{ density: 'value', groupby: ['chain'], extent: [r6(lo - pad), r6(hi + pad)], as: ['value', 'density'] }],
      mark: { type: 'line' },
      encoding: {
        x: { field: 'value', type: 'quantitative', title: null, scale: { zero: false, nice: false } },
        y: { field: 'density', type: 'quantitative', title: null },
        color: { field: 'chain', type: 'nominal', title: 'chain', ...(single ? { legend: null } : {}) },
      },
    };
  });
  return { description: 'marginal posterior densities', columns: 3, concat: panels };
}

/**
 * Pair plot of the first quantities: scatter plots below the diagonal, histograms on it,
 * chains coloured.
 */
export function pairSpec(qs: readonly QuantityDraws[], maxPoints = 400): VlSpec {
  const n = qs.length;
  const values: Record<string, unknown>[] = [];
  const len = Math.min(...qs.map((q) => Math.min(...q.chains.map((c) => c.length))));
  const chains = qs[0]?.chains.length ?? 0;
  for (let c = 0; c < chains; c++) {
    for (const i of thinIndex(len, Math.ceil(maxPoints / Math.max(1, chains)))) {
      const row: Record<string, unknown> = { chain: String(c + 1) };
      qs.forEach((q, j) => { row[`p${j}`] = r6(q.chains[c][i]); });
      values.push(row);
    }
  }
  const size = n <= 3 ? 150 : 110;
  const legend = chains === 1 ? { legend: null } : {};
  const rows = qs.map((qy, iy) => ({
    hconcat: qs.slice(0, iy + 1).map((qx, ix) => {
      const x = { field: `p${ix}`, type: 'quantitative', title: iy === n - 1 ? qx.name : null, scale: { zero: false } };
      if (ix === iy) {
        return {
          width: size, height: size,
          mark: { type: 'bar', opacity: 0.6 },
          encoding: {
            x: { ...x, bin: { maxbins: 25 } },
            y: { aggregate: 'count', type: 'quantitative', title: ix === 0 ? qy.name : null, stack: null },
            color: { field: 'chain', type: 'nominal', title: 'chain', ...legend },
          },
        };
      }
      return {
        width: size, height: size,
        mark: { type: 'point', filled: true, size: 8, opacity: 0.5 },
        encoding: {
          x,
          y: { field: `p${iy}`, type: 'quantitative', title: ix === 0 ? qy.name : null, scale: { zero: false } },
          color: { field: 'chain', type: 'nominal', title: 'chain', ...legend },
        },
      };
    }),
  }));
  return { description: 'pair plot', data: { values }, vconcat: rows };
}

/** Density of a multivariate normal (D = 1 or 2 in practice) at x. */
export function normalDensity(x: readonly number[], c: Component): number {
  const d = c.mean.length;
  if (d === 1) {
    const s2 = c.cov[0][0];
    return Math.exp(-0.5 * (x[0] - c.mean[0]) ** 2 / s2) / Math.sqrt(2 * Math.PI * s2);
  }
  if (d === 2) {
    const [[a, b], [, e]] = c.cov;
    const det = a * e - b * b;
    const dx = x[0] - c.mean[0];
    const dy = x[1] - c.mean[1];
    const q = (e * dx * dx - 2 * b * dx * dy + a * dy * dy) / det;
    return Math.exp(-0.5 * q) / (2 * Math.PI * Math.sqrt(det));
  }
  throw new RangeError(`normalDensity: ${d} dimensions; only 1 and 2 are drawn`);
}

/**
 * Points of the ellipse {x : (x - mean)' cov^-1 (x - mean) = r^2} of a 2-D component,
 * closed (the last point repeats the first).
 */
export function ellipsePoints(mean: readonly number[], cov: readonly (readonly number[])[], r: number, n = 64): [number, number][] {
  // Cholesky factor of the 2x2 covariance: x = mean + r L (cos t, sin t).
  const l11 = Math.sqrt(cov[0][0]);
  const l21 = cov[1][0] / l11;
  const l22 = Math.sqrt(Math.max(0, cov[1][1] - l21 * l21));
  const out: [number, number][] = [];
  for (let i = 0; i <= n; i++) {
    const t = (2 * Math.PI * (i % n)) / n;
    const u = r * Math.cos(t);
    const v = r * Math.sin(t);
    out.push([mean[0] + l11 * u, mean[1] + l21 * u + l22 * v]);
  }
  return out;
}

/** Equal-width histogram bins (Freedman-Diaconis width, 10 to 60 bins), as densities. */
export function histogram(y: readonly number[]): { x0: number; x1: number; density: number }[] {
  const s = [...y].filter(Number.isFinite).sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return [];
  const lo = s[0];
  const hi = s[n - 1];
  if (hi === lo) return [{ x0: lo - 0.5, x1: hi + 0.5, density: 1 }];
  const iqr = s[Math.floor(0.75 * (n - 1))] - s[Math.floor(0.25 * (n - 1))];
  const fd = iqr > 0 ? 2 * iqr / Math.cbrt(n) : (hi - lo) / 10;
  const bins = Math.min(60, Math.max(10, Math.ceil((hi - lo) / fd)));
  const w = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const v of s) counts[Math.min(bins - 1, Math.floor((v - lo) / w))]++;
  return counts.map((c, b) => ({ x0: lo + b * w, x1: lo + (b + 1) * w, density: c / (n * w) }));
}

/**
 * 1-D data: a density histogram of y with the fitted mixture density and its weighted
 * components overlaid. `mixtureDensity`, when given, replaces the density of `components`
 * (e.g. the posterior mean of the density over draws, which label switching cannot blur).
 */
export function mixture1dSpec(y: readonly number[], components: readonly Component[], title: string, mixtureDensity?: (x: number) => number): VlSpec {
  const hist = histogram(y).map((h) => ({ x0: r6(h.x0), x1: r6(h.x1), density: r6(h.density) }));
  const fin = y.filter(Number.isFinite);
  const lo = Math.min(...fin);
  const hi = Math.max(...fin);
  const pad = 0.1 * (hi - lo || 1);
  const grid = Array.from({ length: 201 }, (_, i) => lo - pad + ((hi - lo + 2 * pad) * i) / 200);
  const curves: Record<string, unknown>[] = [];
  const mix = mixtureDensity ?? ((x: number) => components.reduce((a, c) => a + c.weight * normalDensity([x], c), 0));
  for (const x of grid) curves.push({ x: r6(x), density: r6(mix(x)), curve: 'mixture' });
  components.forEach((c, k) => {
    for (const x of grid) curves.push({ x: r6(x), density: r6(c.weight * normalDensity([x], c)), curve: `component ${k + 1}` });
  });
  return {
    description: 'data with the fitted mixture density',
    title,
    width: 2 * WIDTH,
    height: 2 * HEIGHT,
    layer: [
      {
        data: { values: hist },
        mark: { type: 'rect', color: '#bbb', stroke: 'white', strokeWidth: 0.5 },
        encoding: {
          x: { field: 'x0', type: 'quantitative', title: 'data' },
          x2: { field: 'x1' },
          y: { field: 'density', type: 'quantitative', title: 'density' },
        },
      },
      {
        data: { values: curves },
        mark: { type: 'line' },
        encoding: {
          x: { field: 'x', type: 'quantitative' },
          y: { field: 'density', type: 'quantitative' },
          color: { field: 'curve', type: 'nominal', title: null },
          strokeDash: { condition: { test: "datum.curve === 'mixture'", value: [1, 0] }, value: [4, 3] },
        },
      },
    ],
  };
}

/** The index of the component with the largest weighted density at x. */
export function mostProbableComponent(x: readonly number[], components: readonly Component[]): number {
  let best = 0;
  let bestV = -Infinity;
  components.forEach((c, k) => {
    const v = Math.log(c.weight) + Math.log(normalDensity(x, c));
    if (v > bestV) {
      bestV = v;
      best = k;
    }
  });
  return best;
}

/**
 * 2-D data: a scatter plot coloured by the most probable component, with the components'
 * 1- and 2-standard-deviation ellipses and their means.
 */
export function mixture2dSpec(x: readonly (readonly number[])[], components: readonly Component[], title: string, axes: [string, string] = ['x.1', 'x.2']): VlSpec {
  const points = x.map((p) => ({ x: r6(p[0]), y: r6(p[1]), component: String(mostProbableComponent(p, components) + 1) }));
  const ellipses: Record<string, unknown>[] = [];
  components.forEach((c, k) => {
    for (const r of [1, 2]) {
      ellipsePoints(c.mean, c.cov, r).forEach(([ex, ey], i) => ellipses.push({ x: r6(ex), y: r6(ey), component: String(k + 1), level: `${r} sd`, order: i }));
    }
  });
  const means = components.map((c, k) => ({ x: r6(c.mean[0]), y: r6(c.mean[1]), component: String(k + 1), weight: r6(c.weight) }));
  const color = { field: 'component', type: 'nominal', title: 'component' };
  return {
    description: 'data with the fitted mixture components',
    title,
    width: 2 * WIDTH,
    height: 2 * WIDTH * 0.7,
    layer: [
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 18, opacity: 0.6 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: axes[0], scale: { zero: false } },
          y: { field: 'y', type: 'quantitative', title: axes[1], scale: { zero: false } },
          color,
        },
      },
      {
        data: { values: ellipses },
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x: { field: 'x', type: 'quantitative' },
          y: { field: 'y', type: 'quantitative' },
          color,
          detail: { field: 'level', type: 'nominal' },
          order: { field: 'order', type: 'quantitative' },
          strokeDash: { field: 'level', type: 'nominal', title: 'ellipse' },
        },
      },
      {
        data: { values: means },
        mark: { type: 'point', shape: 'cross', size: 120, filled: true, color: 'black' },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' }, tooltip: [{ field: 'component' }, { field: 'weight' }] },
      },
    ],
  };
}

/** An HMM's observations against time, coloured by the most probable (Viterbi) state. */
export function statePathSpec(y: readonly number[], states: ArrayLike<number>, title: string): VlSpec {
  const values = y.map((v, t) => ({ t: t + 1, y: r6(v), state: String(states[t]) }));
  return {
    description: 'most probable state path',
    title,
    width: 2 * WIDTH,
    height: HEIGHT,
    data: { values },
    layer: [
      { mark: { type: 'line', color: '#999', strokeWidth: 0.8 }, encoding: { x: { field: 't', type: 'quantitative', title: 't' }, y: { field: 'y', type: 'quantitative', title: 'data', scale: { zero: false } } } },
      {
        mark: { type: 'point', filled: true, size: 20 },
        encoding: {
          x: { field: 't', type: 'quantitative' },
          y: { field: 'y', type: 'quantitative' },
          color: { field: 'state', type: 'nominal', title: 'state' },
        },
      },
    ],
  };
}

/** One element's rank histogram: bins of ranks [lo, hi) with counts and the band of each count. */
export interface SbcHistogramPanel {
  element: string;
  bins: { lo: number; hi: number; count: number; expected: number; lower: number; upper: number }[];
}

/**
 * SBC rank histograms (Talts et al. 2018), one panel per parameter element: the counts per
 * rank bin over the band of each bin's count under uniform ranks (grey) and the expected
 * count (dashed).
 */
export function sbcHistogramSpec(panels: readonly SbcHistogramPanel[], title: string): VlSpec {
  const values = panels.flatMap((p) => p.bins.map((b) => ({ element: p.element, ...b, expected: r6(b.expected) })));
  const x = { field: 'lo', type: 'quantitative', title: 'rank', scale: { nice: false } };
  return {
    description: 'SBC rank histograms',
    title,
    data: { values },
    columns: 4,
    facet: { field: 'element', type: 'nominal', sort: panels.map((p) => p.element), title: null },
    spec: {
      width: 180,
      height: 110,
      layer: [
        { mark: { type: 'rect', color: '#d9d9d9' }, encoding: { x, x2: { field: 'hi' }, y: { field: 'lower', type: 'quantitative', title: 'count' }, y2: { field: 'upper' } } },
        { mark: { type: 'rect', color: '#4c78a8', opacity: 0.75, stroke: 'white', strokeWidth: 0.5 }, encoding: { x, x2: { field: 'hi' }, y: { field: 'count', type: 'quantitative' } } },
        { mark: { type: 'rule', color: 'black', strokeDash: [4, 3] }, encoding: { x, x2: { field: 'hi' }, y: { field: 'expected', type: 'quantitative' } } },
        // The band's edges again, over the bars, so the lower limit shows.
        { mark: { type: 'rule', color: '#777' }, encoding: { x, x2: { field: 'hi' }, y: { field: 'lower', type: 'quantitative' } } },
        { mark: { type: 'rule', color: '#777' }, encoding: { x, x2: { field: 'hi' }, y: { field: 'upper', type: 'quantitative' } } },
      ],
    },
  };
}

/** One element's ECDF difference at the band's evaluation points z, with the band. */
export interface SbcEcdfPanel {
  element: string;
  z: readonly number[];
  diff: readonly number[];
  lower: readonly number[];
  upper: readonly number[];
}

/**
 * SBC ECDF-difference plots (Säilynoja, Bürkner & Vehtari 2022), one panel per element:
 * F̂(z) − z of rank/(L+1) over its band (grey, closed at z = 0 and 1), points outside red.
 */
export function sbcEcdfSpec(panels: readonly SbcEcdfPanel[], title: string): VlSpec {
  const values: Record<string, unknown>[] = [];
  for (const p of panels) {
    values.push({ element: p.element, z: 0, diff: 0, lower: 0, upper: 0, outside: false });
    p.z.forEach((z, k) => values.push({
      element: p.element, z: r6(z), diff: r6(p.diff[k]), lower: r6(p.lower[k]), upper: r6(p.upper[k]), outside: p.diff[k] < p.lower[k] || p.diff[k] > p.upper[k],
    }));
    values.push({ element: p.element, z: 1, diff: 0, lower: 0, upper: 0, outside: false });
  }
  const x = { field: 'z', type: 'quantitative', title: 'rank / (L + 1)', scale: { domain: [0, 1], nice: false } };
  return {
    description: 'SBC ECDF difference',
    title,
    data: { values },
    columns: 4,
    facet: { field: 'element', type: 'nominal', sort: panels.map((p) => p.element), title: null },
    spec: {
      width: 180,
      height: 110,
      layer: [
        { mark: { type: 'area', color: '#d0d0d0' }, encoding: { x, y: { field: 'lower', type: 'quantitative', title: 'ECDF − uniform' }, y2: { field: 'upper' } } },
        { mark: { type: 'rule', color: '#777', strokeDash: [3, 3] }, encoding: { y: { datum: 0 } } },
        { mark: { type: 'line', color: '#1f4e9c', strokeWidth: 1.5 }, encoding: { x, y: { field: 'diff', type: 'quantitative' } } },
        {
          // Every point is drawn, only those outside visibly (a filtered, possibly empty layer would make vega warn of an infinite extent).
          mark: { type: 'point', filled: true, color: '#c0392b', size: 20 },
          encoding: { x, y: { field: 'diff', type: 'quantitative' }, opacity: { condition: { test: 'datum.outside', value: 1 }, value: 0 } },
        },
      ],
    },
  };
}

function quantileOf(xs: readonly number[], p: number): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s[Math.min(s.length - 1, Math.max(0, Math.round(p * (s.length - 1))))];
}

/**
 * A VI objective trace: the raw estimate at each step (light) and its trailing mean (dark),
 * at most `maxPoints` steps of each. The y axis spans the values after the first 5% of
 * steps (the first steps, far below, are clipped).
 */
export function objectiveTraceSpec(raw: ArrayLike<number>, smoothed: ArrayLike<number>, label: string, maxPoints = 1000): VlSpec {
  const values: Record<string, unknown>[] = [];
  for (const i of thinIndex(raw.length, maxPoints)) values.push({ step: i + 1, value: r6(raw[i]), series: `${label} (each step)` });
  for (const i of thinIndex(smoothed.length, maxPoints)) values.push({ step: i + 1, value: r6(smoothed[i]), series: `${label} (trailing mean)` });
  const from = Math.floor(0.05 * raw.length);
  const late = [...Array.from(raw).slice(from), ...Array.from(smoothed).slice(from)];
  let lo = quantileOf(late, 0.005);
  let hi = quantileOf(late, 1);
  if (!(hi > lo)) {
    lo = Number.isFinite(lo) ? lo - 1 : 0;
    hi = lo + 2;
  }
  const pad = 0.05 * (hi - lo);
  return {
    description: 'VI objective trace',
    width: 2 * WIDTH,
    height: 1.5 * HEIGHT,
    data: { values },
    mark: { type: 'line', clip: true, strokeWidth: 1 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title: label, scale: { domain: [r6(lo - pad), r6(hi + pad)] } },
      color: { field: 'series', type: 'nominal', title: null, scale: { range: ['#9ecae9', '#1f4e9c'] } },
      opacity: { condition: { test: "indexof(datum.series, 'each') >= 0", value: 0.6 }, value: 1 },
    },
  };
}

/** One stage of a tempered (SMC or annealed Langevin) run. */
export interface TemperingStage {
  stage: number;
  beta: number;
  /** ESS after reweighting, relative to the number of particles (0..1]. */
  ess: number;
  /** Mean acceptance of the moves (NaN at stage 0). */
  acceptance: number;
  resampled: boolean;
}

/** The temperature ladder, relative ESS and move acceptance per stage, three panels. */
export function temperingSpec(stages: readonly TemperingStage[], title: string): VlSpec {
  const values = stages.map((s) => ({ stage: s.stage, beta: r6(s.beta), ess: r6(s.ess), acceptance: r6(s.acceptance), resampled: s.resampled ? 'yes' : 'no' }));
  const x = { field: 'stage', type: 'quantitative', title: 'stage', axis: { tickMinStep: 1 } };
  const panel = (field: string, ytitle: string, domain?: number[]) => ({
    width: 200,
    height: 130,
    layer: [
      { mark: { type: 'line', color: '#999' }, encoding: { x, y: { field, type: 'quantitative', title: ytitle, ...(domain ? { scale: { domain } } : {}) } } },
      { mark: { type: 'point', filled: true, size: 30 }, encoding: { x, y: { field, type: 'quantitative' }, color: { field: 'resampled', type: 'nominal', title: 'resampled', scale: { domain: ['no', 'yes'], range: ['#4c78a8', '#e45756'] } } } },
    ],
  });
  return {
    description: 'tempering ladder and ESS per stage',
    title,
    data: { values },
    hconcat: [panel('beta', 'temperature β', [0, 1]), panel('ess', 'ESS / particles', [0, 1]), panel('acceptance', 'move acceptance', [0, 1])],
  };
}

/** rdMC: the mean relative ESS of the inner importance weights at each reverse time. */
export function diffusionSpec(times: readonly number[], innerEss: readonly number[], title: string): VlSpec {
  const values = innerEss.map((e, k) => ({ step: k, t: r6(times[Math.min(k, times.length - 1)]), ess: r6(e) })).filter((v) => v.t !== null && v.t > 0);
  return {
    description: 'rdMC inner ESS per reverse step',
    title,
    width: 2 * WIDTH,
    height: HEIGHT,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'diffusion time t (reverse: right to left)', scale: { type: 'log' } },
      y: { field: 'ess', type: 'quantitative', title: 'inner ESS / samples', scale: { domain: [0, 1] } },
    },
  };
}
