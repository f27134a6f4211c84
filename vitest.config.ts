import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Most test files wait on real servers and child processes, not on the CPU: run more files than cores.
    maxWorkers: 4,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
