import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // two cores: more workers only contend for them
    maxWorkers: 2,
    env: { NEXT_TELEMETRY_DISABLED: '1' },
  },
});
