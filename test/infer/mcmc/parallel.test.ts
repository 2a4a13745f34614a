// sampleParallel: chains on worker threads give exactly the draws of sample() with the same
// options (pooled warm-up with its window estimates exchanged across threads, per-chain
// adaptation, slice with Gibbs latents), progress is relayed, and errors from the options or
// from inside a worker reject with the sampler's message.
import { describe, expect, it } from 'vitest';
import { compile, ensureBackend, sample, sampleParallel } from '../../../src';
import type { McmcResult } from '../../../src';
import { MixError } from '../../../src/diagnostics/diagnostic';
import { tf } from '../../../src/tensor';

await ensureBackend();

const MIX = `
model mix2 {
  data y: real[N]
  param w: simplex[2]
  param mu: ordered[2]
  param sigma: positive
  w ~ dirichlet(rep(2.0, 2))
  mu ~ normal(0, 3)
  sigma ~ half_normal(2)
  for n in 1..N {
    z[n] ~ categorical(w)
    y[n] ~ normal(mu[z[n]], sigma)
  }
}`;
const y = [-1.9, -2.3, -1.1, -2.8, -1.6, 1.7, 2.2, 1.4, 2.9, 2.0, 1.1, -2.0];
const model = compile(MIX);

function expectSameDraws(a: McmcResult, b: McmcResult): void {
  expect(b.chains.length).toBe(a.chains.length);
  a.chains.forEach((c, i) => {
    expect(b.chains[i].unconstrained).toEqual(c.unconstrained);
    expect(b.chains[i].stats).toEqual(c.stats);
    expect(b.chains[i].invMetric).toEqual(c.invMetric);
    expect(b.chains[i].latents).toEqual(c.latents);
  });
}

describe('sampleParallel', () => {
  it('pooled warm-up over 2 threads (3 chains, dense metric): the same draws as sample, progress relayed', async () => {
    const opts = { chains: 3, warmup: 150, draws: 60, seed: 9 };
    const seq = sample(model.bind({ y }), opts);
    const seen = new Set<string>();
    let calls = 0;
    const par = await sampleParallel(model, { y }, { ...opts, workers: 2, onIteration: (c, it) => { calls++; seen.add(`${c}:${it}`); } });
    expectSameDraws(seq, par);
    expect(par.traced).toBe(seq.traced);
    expect(calls).toBe(3 * 210);
    expect(seen.size).toBe(3 * 210);
  }, 120_000);

  it('per-chain adaptation and slice with Gibbs latents: the same draws as sample', async () => {
    for (const opts of [
      { chains: 2, warmup: 100, draws: 40, seed: 4, adaptation: 'per-chain' as const },
      { chains: 2, warmup: 60, draws: 40, seed: 5, algorithm: 'slice' as const, latents: 'gibbs' as const },
    ]) {
      const seq = sample(model.bind({ y }), opts);
      const par = await sampleParallel(model, { y }, { ...opts, workers: 2 });
      expectSameDraws(seq, par);
    }
  }, 120_000);

  it('deviceGradients: the potential computed by the main thread gives the draws of sample with tensorPath', async () => {
    // Pooled dense warm-up (one window) over 3 single-chain workers (their requests answered in
    // batches), and Metropolis per chain over one worker (its chains share one gradient channel in turn). Short: the tensor path
    // costs milliseconds per gradient on this small model, in either thread.
    for (const [opts, workers] of [
      [{ chains: 3, warmup: 30, draws: 15, seed: 3, maxTreeDepth: 4 }, undefined],
      [{ chains: 2, warmup: 60, draws: 30, seed: 6, algorithm: 'mh' as const, adaptation: 'per-chain' as const, metric: 'diag' as const }, 1],
    ] as const) {
      const seq = sample(model.bind({ y }), { ...opts, tensorPath: true });
      let calls = 0;
      const before = tf.memory().numTensors;
      const dev = await sampleParallel(model, { y }, { ...opts, workers, deviceGradients: true, onIteration: () => { calls++; } });
      // Every gradient's tensors and both bindings are released.
      expect(tf.memory().numTensors).toBe(before);
      expectSameDraws(seq, dev);
      expect(dev.traced).toBe(false);
      expect(calls).toBe(opts.chains * (opts.warmup + opts.draws));
      // Lockstep batches: one chain per worker, every batch holds each running chain's request.
      const st = dev.gradientBatches!;
      expect(st.batches).toBeGreaterThan(0);
      if (workers === 1) expect(st).toEqual({ requests: st.batches, batches: st.batches, largest: 1 });
      else {
        expect(st.largest).toBe(opts.chains);
        expect(st.requests).toBeGreaterThan(st.batches);
      }
      // The float64 replay differs (float32 tensor gradients above): the comparison can fail.
      const replay = sample(model.bind({ y }), opts);
      expect(replay.chains[0].unconstrained).not.toEqual(dev.chains[0].unconstrained);
    }
  }, 120_000);

  it('deviceGradients refuses what does not sample the marginal potential by gradients', async () => {
    await expect(sampleParallel(model, { y }, { deviceGradients: true, algorithm: 'slice', latents: 'gibbs' })).rejects.toThrow(/deviceGradients samples the marginal potential by NUTS, HMC or Metropolis, not latents: 'gibbs'/);
    await expect(sampleParallel(model, { y }, { deviceGradients: true, algorithm: 'slice' })).rejects.toThrow(/not algorithm 'slice'/);
    await expect(sampleParallel(model, { y }, { deviceGradients: 1 as unknown as boolean })).rejects.toThrow(/deviceGradients must be a boolean, got 1/);
  });

  it('bad options reject before any thread starts; a failure inside a worker rejects with its message', async () => {
    await expect(sampleParallel(model, { y }, { chains: 0 })).rejects.toThrow(/sample: chains must be an integer >= 1/);
    await expect(sampleParallel(model, { y }, { workers: 0 })).rejects.toThrow(/workers must be a positive integer/);
    await expect(sampleParallel(model, { y: [1, () => 2] as unknown as number[] }, {})).rejects.toThrow(/data\.y\[1\] cannot be sent to a worker/);
    // sigma = -1 is outside its support: the chains' init check runs in the workers, and its
    // located model error comes back as a MixError with its diagnostics.
    const bad = sampleParallel(model, { y }, { chains: 2, warmup: 10, draws: 10, workers: 2, init: { w: [0.5, 0.5], mu: [-2, 2], sigma: -1 } });
    await expect(bad).rejects.toBeInstanceOf(MixError);
    await expect(bad).rejects.toThrow(/E0640.*parameter 'sigma'/);
  }, 120_000);
});
