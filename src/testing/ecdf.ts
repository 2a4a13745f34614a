/**
 * Graphical SBC: the ECDF of the ranks minus the uniform CDF, with simultaneous
 * confidence bands (Säilynoja, Bürkner & Vehtari 2022, "Graphical test for discrete
 * uniformity and its applications in goodness-of-fit evaluation and multiple sample
 * comparison", Statistics and Computing 32:32). The band is found by their simulation
 * method: the pointwise binomial level γ is adjusted until (1 - α) of simulated uniform
 * rank samples stay inside every pointwise interval at once.
 */
import { Key } from '../tensor/random';
import { lgammaF64 } from '../tensor/special';

/** A simultaneous band for the ECDF difference F̂(z) - z of N ranks on {0..L}. */
export interface EcdfBand {
  /** Evaluation points z_k = e_k/(L+1): F̂(z_k) is the fraction of ranks below e_k. */
  z: number[];
  /** Rank cut points e_k (ranks < e_k are counted at z_k). */
  cuts: number[];
  /** Band limits on F̂(z) - z. */
  lower: number[];
  upper: number[];
  /** The adjusted pointwise level γ (two-sided). */
  gamma: number;
  alpha: number;
  N: number;
  L: number;
}

/** Options for `ecdfBand` and `ecdfBandSvg`. */
export interface EcdfBandOptions {
  /** 1 - simultaneous coverage (default 0.05: a 95% band). */
  alpha?: number;
  /** Simulated uniform rank samples used to adjust γ (default 2000). */
  simulations?: number;
  /** Seed of the simulation (default 0). */
  seed?: number;
  /** Most evaluation points (default 100; all L + 1 rank values when fewer). */
  points?: number;
}

/** Cumulative binomial probabilities P(X <= k), k = 0..N, for X ~ Binomial(N, p). */
function binomialCdfTable(N: number, p: number): Float64Array {
  const cdf = new Float64Array(N + 1);
  const lp = Math.log(p);
  const lq = Math.log1p(-p);
  const lnf = lgammaF64(N + 1);
  let acc = 0;
  for (let k = 0; k <= N; k++) {
    acc += Math.exp(lnf - lgammaF64(k + 1) - lgammaF64(N - k + 1) + k * lp + (N - k) * lq);
    cdf[k] = Math.min(1, acc);
  }
  return cdf;
}

/** Rank cut points for at most `points` evaluation points on {0..L} (z = 1 is left out: F̂(1) = 1 always). */
function cutPoints(L: number, points: number): number[] {
  const K = Math.min(L + 1, points);
  const cuts: number[] = [];
  for (let k = 1; k < K; k++) {
    const e = Math.round((k * (L + 1)) / K);
    if (e > 0 && e <= L && cuts[cuts.length - 1] !== e) cuts.push(e);
  }
  return cuts;
}

/**
 * Returns the simultaneous (1 - alpha) band for the ECDF difference of N uniform ranks on
 * {0, ..., L}, by Säilynoja et al.'s simulation method with a fixed seed.
 *
 * @example
 * const band = ecdfBand(200, 99); // band.lower[k] <= F̂(band.z[k]) - band.z[k] <= band.upper[k] for all k, w.p. 0.95
 */
export function ecdfBand(N: number, L: number, opts: EcdfBandOptions = {}): EcdfBand {
  if (!Number.isInteger(N) || N < 1) throw new RangeError(`ecdfBand: N must be a positive integer, got ${N}`);
  if (!Number.isInteger(L) || L < 1) throw new RangeError(`ecdfBand: L must be a positive integer, got ${L}`);
  const alpha = opts.alpha ?? 0.05;
  if (!(alpha > 0 && alpha < 1)) throw new RangeError(`ecdfBand: alpha must be in (0, 1), got ${alpha}`);
  const M = opts.simulations ?? 2000;
  if (!Number.isInteger(M) || M < Math.ceil(10 / alpha)) {
    throw new RangeError(`ecdfBand: simulations must be an integer >= ${Math.ceil(10 / alpha)} for alpha = ${alpha}, got ${M}`);
  }
  const cuts = cutPoints(L, opts.points ?? 100);
  const z = cuts.map((e) => e / (L + 1));
  const tables = z.map((p) => binomialCdfTable(N, p));
  const rng = Key.seed(opts.seed ?? 0).rng();
  const counts = new Int32Array(L + 2);
  const minGamma = new Float64Array(M);
  for (let s = 0; s < M; s++) {
    counts.fill(0);
    for (let i = 0; i < N; i++) counts[rng.uniformInt(L + 1) + 1]++;
    // counts[e] becomes #{ranks < e}
    for (let e = 1; e <= L + 1; e++) counts[e] += counts[e - 1];
    let g = 1;
    for (let k = 0; k < cuts.length; k++) {
      const c = counts[cuts[k]];
      const cdf = tables[k];
      const below = cdf[c];
      const above = c > 0 ? 1 - cdf[c - 1] : 1;
      g = Math.min(g, 2 * Math.min(below, above));
    }
    minGamma[s] = g;
  }
  minGamma.sort();
  const gamma = minGamma[Math.floor(alpha * M)];
  const lower: number[] = [];
  const upper: number[] = [];
  tables.forEach((cdf, k) => {
    let lo = 0;
    while (lo < N && cdf[lo] < gamma / 2) lo++;
    let hi = 0;
    while (hi < N && cdf[hi] < 1 - gamma / 2) hi++;
    lower.push(lo / N - z[k]);
    upper.push(hi / N - z[k]);
  });
  return { z, cuts, lower, upper, gamma, alpha, N, L };
}

/**
 * Returns F̂(z_k) - z_k at the band's evaluation points for the given ranks on {0..L}.
 *
 * @example
 * const d = ecdfDifference(ranks, L, ecdfBand(ranks.length, L));
 */
export function ecdfDifference(ranks: readonly number[], L: number, band: Pick<EcdfBand, 'cuts' | 'z'>): number[] {
  const counts = new Int32Array(L + 2);
  ranks.forEach((r, i) => {
    if (!Number.isInteger(r) || r < 0 || r > L) throw new RangeError(`ecdfDifference: rank ${i} is ${r}, not an integer in 0..${L}`);
    counts[r + 1]++;
  });
  for (let e = 1; e <= L + 1; e++) counts[e] += counts[e - 1];
  return band.cuts.map((e, k) => counts[e] / ranks.length - band.z[k]);
}

/** Per-parameter verdict of the graphical test. */
export interface EcdfCheck {
  /** True when the ECDF difference stays inside the simultaneous band everywhere. */
  inside: boolean;
  /** Largest excursion outside the band (0 when inside), in ECDF units. */
  excess: number;
  /** Where the largest excursion is (z), or NaN when inside. */
  at: number;
}

/**
 * Returns, for each parameter, whether its ECDF difference leaves the simultaneous band.
 *
 * @example
 * ecdfCheck(result.ranks, result.L)['mu'].inside;
 */
export function ecdfCheck(ranks: Readonly<Record<string, readonly number[]>>, L: number, opts: EcdfBandOptions = {}): Record<string, EcdfCheck> {
  const out: Record<string, EcdfCheck> = {};
  const bands = new Map<number, EcdfBand>();
  for (const [name, rs] of Object.entries(ranks)) {
    let band = bands.get(rs.length);
    if (!band) bands.set(rs.length, (band = ecdfBand(rs.length, L, opts)));
    const d = ecdfDifference(rs, L, band);
    let excess = 0;
    let at = NaN;
    d.forEach((v, k) => {
      const e = Math.max(band!.lower[k] - v, v - band!.upper[k]);
      if (e > excess) {
        excess = e;
        at = band!.z[k];
      }
    });
    out[name] = { inside: excess === 0, excess, at };
  }
  return out;
}

/** Options for `ecdfBandSvg`. */
export interface EcdfSvgOptions extends EcdfBandOptions {
  /** Panels per row (default min(4, number of parameters)). */
  columns?: number;
  /** Size of one panel in px (default 240 x 170). */
  panelWidth?: number;
  panelHeight?: number;
  /** Title drawn above the panels. */
  title?: string;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const fmt = (v: number) => (Math.round(v * 100) / 100).toString();

/**
 * Returns a self-contained SVG document (a string) with one panel per parameter: the ECDF
 * difference F̂(z) - z of its SBC ranks (a line, red where it leaves the band) over the
 * simultaneous (1 - alpha) band (grey). A calibrated method stays inside the band; a ∪
 * shape (too narrow posterior) dips below then rises, a shift drifts to one side.
 *
 * @example
 * import { writeFileSync } from 'node:fs';
 * writeFileSync('sbc.svg', ecdfBandSvg(result.ranks, result.L, { title: 'my sampler' }));
 */
export function ecdfBandSvg(ranks: Readonly<Record<string, readonly number[]>> | readonly number[], L: number, opts: EcdfSvgOptions = {}): string {
  const byName: Record<string, readonly number[]> = Array.isArray(ranks) ? { rank: ranks as readonly number[] } : (ranks as Readonly<Record<string, readonly number[]>>);
  const names = Object.keys(byName);
  if (names.length === 0) throw new RangeError('ecdfBandSvg: no ranks to plot');
  const W = opts.panelWidth ?? 240;
  const H = opts.panelHeight ?? 170;
  const cols = Math.max(1, Math.min(opts.columns ?? 4, names.length));
  const rows = Math.ceil(names.length / cols);
  const top = opts.title ? 28 : 6;
  const width = cols * W;
  const height = top + rows * H;
  const m = { l: 40, r: 10, t: 22, b: 24 };
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  if (opts.title) parts.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${esc(opts.title)}</text>`);
  const bands = new Map<number, EcdfBand>();
  names.forEach((name, idx) => {
    const rs = byName[name];
    let band = bands.get(rs.length);
    if (!band) bands.set(rs.length, (band = ecdfBand(rs.length, L, opts)));
    const d = ecdfDifference(rs, L, band);
    const x0 = (idx % cols) * W;
    const y0 = top + Math.floor(idx / cols) * H;
    const pw = W - m.l - m.r;
    const ph = H - m.t - m.b;
    let ymax = 0;
    for (let k = 0; k < d.length; k++) ymax = Math.max(ymax, Math.abs(d[k]), Math.abs(band.lower[k]), Math.abs(band.upper[k]));
    ymax = ymax > 0 ? ymax * 1.1 : 0.1;
    const X = (z: number) => x0 + m.l + z * pw;
    const Y = (v: number) => y0 + m.t + ((ymax - v) / (2 * ymax)) * ph;
    // Band polygon, closed at z = 0 and z = 1 where the difference is 0.
    const up = band.z.map((z, k) => `${fmt(X(z))},${fmt(Y(band!.upper[k]))}`);
    const lo = band.z.map((z, k) => `${fmt(X(z))},${fmt(Y(band!.lower[k]))}`).reverse();
    parts.push(`<g>`);
    parts.push(`<text x="${fmt(x0 + m.l + pw / 2)}" y="${fmt(y0 + 15)}" text-anchor="middle">${esc(name)}</text>`);
    parts.push(`<rect x="${fmt(x0 + m.l)}" y="${fmt(y0 + m.t)}" width="${fmt(pw)}" height="${fmt(ph)}" fill="none" stroke="#999"/>`);
    parts.push(`<polygon points="${fmt(X(0))},${fmt(Y(0))} ${up.join(' ')} ${fmt(X(1))},${fmt(Y(0))} ${lo.join(' ')}" fill="#d0d0d0" stroke="none"/>`);
    parts.push(`<line x1="${fmt(X(0))}" y1="${fmt(Y(0))}" x2="${fmt(X(1))}" y2="${fmt(Y(0))}" stroke="#777" stroke-dasharray="3,3"/>`);
    const pts = [`${fmt(X(0))},${fmt(Y(0))}`, ...band.z.map((z, k) => `${fmt(X(z))},${fmt(Y(d[k]))}`), `${fmt(X(1))},${fmt(Y(0))}`];
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="#1f4e9c" stroke-width="1.5"/>`);
    band.z.forEach((z, k) => {
      if (d[k] < band!.lower[k] || d[k] > band!.upper[k]) parts.push(`<circle cx="${fmt(X(z))}" cy="${fmt(Y(d[k]))}" r="2" fill="#c0392b"/>`);
    });
    parts.push(`<text x="${fmt(x0 + m.l - 4)}" y="${fmt(Y(ymax) + 9)}" text-anchor="end">${fmt(ymax)}</text>`);
    parts.push(`<text x="${fmt(x0 + m.l - 4)}" y="${fmt(Y(-ymax))}" text-anchor="end">${fmt(-ymax)}</text>`);
    parts.push(`<text x="${fmt(X(0))}" y="${fmt(y0 + H - 8)}" text-anchor="middle">0</text>`);
    parts.push(`<text x="${fmt(X(1))}" y="${fmt(y0 + H - 8)}" text-anchor="middle">1</text>`);
    parts.push(`<text x="${fmt(X(0.5))}" y="${fmt(y0 + H - 8)}" text-anchor="middle">rank / (L+1)</text>`);
    parts.push(`</g>`);
  });
  parts.push(`</svg>`);
  return parts.join('\n');
}
