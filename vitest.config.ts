import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // One test file at a time: the multi-process, torture and timing tests each load both cores themselves, and
    // running two of them side by side only measures the contention.
    fileParallelism: false,
    globalSetup: ['test/setup/pg-global.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    // dist/ is loaded by Node itself, as users load it: its ESM wrappers import the CommonJS build (the one
    // implementation), which vitest's own module runner would otherwise try to run as ESM.
    server: { deps: { external: [/\/dist\//] } },
  },
});
