/** The suite's own set-up, run over two one-line probes: proves a failing test fails the run. */
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/e2e/probe/*.probe.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 1,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
