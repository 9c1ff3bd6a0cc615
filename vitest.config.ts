import { defineConfig } from 'vitest/config';

const browser = 'test/browser/**/*.test.ts';

export default defineConfig({
  // tsconfig's `@/*` paths: the server imports the API's route modules (server/http/direct.ts)
  resolve: { alias: [{ find: /^@\//, replacement: `${import.meta.dirname}/` }] },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // two cores: more workers only contend for them
    maxWorkers: 2,
    env: { NEXT_TELEMETRY_DISABLED: '1' },
    projects: [
      { extends: true, test: { name: 'server', include: ['test/**/*.test.ts', 'test/**/*.test.tsx'], exclude: [browser] } },
      // the console in Chromium runs last, alone: its live-page checks wait on socket events, and the concurrency
      // and CLI suites beside it kept both cores busy enough to starve the page
      { extends: true, test: { name: 'browser', include: [browser], sequence: { groupOrder: 1 } } },
    ],
  },
});
