import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Tensor tests are CPU-bound; two workers match the machines this runs on.
    maxWorkers: 2,
  },
});
