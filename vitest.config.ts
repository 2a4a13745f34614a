import { configDefaults, defineConfig } from 'vitest/config';

// The slow statistical tier (test/slow) runs only under `npm run test:slow`.
const slow = process.env.MIXPPL_SLOW === '1';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Tensor tests are CPU-bound; two workers match the machines this runs on.
    maxWorkers: 2,
    exclude: slow ? configDefaults.exclude : [...configDefaults.exclude, '**/slow/**'],
  },
});
