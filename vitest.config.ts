import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // one file at a time: the end-to-end tests time real daemons, which a CPU-bound property run beside them
    // on a 2-core machine would slow down
    fileParallelism: false
  }
})
