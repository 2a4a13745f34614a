/**
 * A small in-place progress display for `mixppl sample`: one status line per chain,
 *
 *   chain 1/4  sampling 2000/2000  divergences 0
 *   chain 2/4  warmup    640/2000  divergences 0
 *   chain 3/4  waiting     0/2000
 *
 * redrawn at most every `intervalMs` (default 100 ms, ~10 times a second) by moving the
 * cursor back up over the block (ANSI `ESC[nA`, `ESC[K`). It is meant for a terminal only:
 * {@link chainProgressFor} gives none when the stream is not a TTY, so logs and pipes get
 * nothing. No dependency: `cli-progress` is not one of the project's packages, and this is
 * all the sampler needs.
 */

/** Where the display writes: a terminal stream, or anything with `write` in tests. */
export interface ProgressSink {
  write(text: string): unknown;
  /** True for a terminal; {@link chainProgressFor} draws nothing otherwise. */
  isTTY?: boolean;
}

/** Options of {@link ChainProgress}. */
export interface ChainProgressOptions {
  /** Minimum milliseconds between two redraws (default 100). */
  intervalMs?: number;
  /** Clock in milliseconds (default `performance.now`); tests pass their own. */
  now?: () => number;
}

type Phase = 'waiting' | 'warmup' | 'sampling';

interface ChainState {
  phase: Phase;
  iteration: number;
  divergences: number;
}

/** One status line per chain, updated in place, throttled. */
export class ChainProgress {
  private readonly states: ChainState[];
  private readonly intervalMs: number;
  private readonly now: () => number;
  private lastDraw = -Infinity;
  /** Lines currently on screen (0 before the first draw and after `finish`). */
  private drawn = 0;

  /**
   * @param sink the terminal (stderr)
   * @param chains number of chains
   * @param iterations iterations per chain, warm-up and sampling together
   */
  constructor(
    private readonly sink: ProgressSink,
    readonly chains: number,
    readonly iterations: number,
    options: ChainProgressOptions = {},
  ) {
    if (!Number.isInteger(chains) || chains < 1) throw new RangeError(`ChainProgress: chains must be an integer >= 1, got ${chains}`);
    if (!Number.isInteger(iterations) || iterations < 0) throw new RangeError(`ChainProgress: iterations must be an integer >= 0, got ${iterations}`);
    this.states = Array.from({ length: chains }, () => ({ phase: 'waiting' as Phase, iteration: 0, divergences: 0 }));
    this.intervalMs = options.intervalMs ?? 100;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Records where a chain is (the shape of `sample()`'s `onIteration`: chain 0-based,
   * iteration 1-based over warm-up and sampling) and redraws when the last redraw is at
   * least `intervalMs` old. A chain's last iteration always redraws, so the block ends
   * showing it complete.
   */
  update(chain: number, iteration: number, phase: 'warmup' | 'sampling', divergences: number): void {
    const s = this.states[chain];
    if (!s) throw new RangeError(`ChainProgress: chain ${chain} is outside 0..${this.chains - 1}`);
    s.phase = phase;
    s.iteration = iteration;
    s.divergences = divergences;
    const t = this.now();
    if (t - this.lastDraw >= this.intervalMs || iteration === this.iterations) {
      this.lastDraw = t;
      this.draw();
    }
  }

  /** The status line of one chain (0-based), as drawn. */
  line(chain: number): string {
    const s = this.states[chain];
    const width = String(this.iterations).length;
    const head = `chain ${chain + 1}/${this.chains}  ${s.phase.padEnd(8)} ${String(s.iteration).padStart(width)}/${this.iterations}`;
    return s.phase === 'waiting' ? head : `${head}  divergences ${s.divergences}`;
  }

  /** Erases the block, so that what is printed next starts on a clean line. */
  finish(): void {
    if (this.drawn === 0) return;
    this.sink.write(`\x1b[${this.drawn}A` + '\r\x1b[J');
    this.drawn = 0;
  }

  private draw(): void {
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (let c = 0; c < this.chains; c++) text += `\r${this.line(c)}\x1b[K\n`;
    this.sink.write(text);
    this.drawn = this.chains;
  }
}

/**
 * The progress display for a run, or undefined when there should be none: when `quiet`,
 * or when the sink is not a terminal (a pipe, a file, a CI log).
 */
export function chainProgressFor(
  sink: ProgressSink, chains: number, iterations: number, quiet: boolean, options?: ChainProgressOptions,
): ChainProgress | undefined {
  if (quiet || !sink.isTTY) return undefined;
  return new ChainProgress(sink, chains, iterations, options);
}

/**
 * A one-line in-place status (`\r` and `ESC[K`), redrawn at most every `intervalMs`: the
 * progress of runs that are not chains (VI's steps and objective).
 */
export class LineProgress {
  private last = -Infinity;
  private drawn = false;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(private readonly sink: ProgressSink, options: ChainProgressOptions = {}) {
    this.intervalMs = options.intervalMs ?? 100;
    this.now = options.now ?? (() => performance.now());
  }

  /** Shows `text` unless the last redraw was under `intervalMs` ago (`force` redraws anyway). */
  update(text: string, force = false): void {
    const t = this.now();
    if (!force && t - this.last < this.intervalMs) return;
    this.last = t;
    this.sink.write(`\r${text}\x1b[K`);
    this.drawn = true;
  }

  /** Ends the line (a newline after the last status), so the following output starts clean. */
  finish(): void {
    if (this.drawn) this.sink.write('\n');
    this.drawn = false;
  }
}

/** A {@link LineProgress}, or undefined when `quiet` or the sink is not a terminal. */
export function lineProgressFor(sink: ProgressSink, quiet: boolean, options?: ChainProgressOptions): LineProgress | undefined {
  if (quiet || !sink.isTTY) return undefined;
  return new LineProgress(sink, options);
}

/**
 * Runs `run` with a progress line on stderr (undefined when quiet or not a terminal) and
 * clears the line afterwards, whether `run` returns or throws; when it returns a promise,
 * once that settles.
 */
export function withLineProgress<T>(quiet: boolean, run: (progress: LineProgress | undefined) => T): T {
  const progress = lineProgressFor(process.stderr, quiet);
  let r: T;
  try {
    r = run(progress);
  } catch (e) {
    progress?.finish();
    throw e;
  }
  if (r instanceof Promise) return r.finally(() => progress?.finish()) as T;
  progress?.finish();
  return r;
}
