import { defineConfig } from 'vitest/config';

/**
 * The whole suite runs on both storage backends (test/helpers/backend.ts): `embedded` (SQLite) and `scaled`
 * (PostgreSQL and Redis), as two projects of one run with one report. POORT_TEST_BACKEND=embedded|scaled runs one.
 */
const backends = process.env.POORT_TEST_BACKEND ? [process.env.POORT_TEST_BACKEND] : ['embedded', 'scaled'];

export default defineConfig({
  test: {
    // Most test files wait on real servers and child processes, not on the CPU: run more files than cores.
    maxWorkers: 4,
    minWorkers: 1,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: backends.map((backend) => ({
      extends: true,
      test: { name: backend, env: { POORT_TEST_BACKEND: backend } },
    })),
  },
});
