// Loaded into a daemon under test with `node --import`: on SIGUSR2 it prints one line on stderr,
// `heap-probe {"peakMallocedBytes":…,"arrayBuffers":…,"youngGenerationBytes":…}`, for tests of what the daemon holds (plain JavaScript: node
// loads it before the CLI).
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8"

process.on("SIGUSR2", () => {
  const heap = {
    peakMallocedBytes: getHeapStatistics().peak_malloced_memory,
    arrayBuffers: process.memoryUsage().arrayBuffers,
    youngGenerationBytes: getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size
  }
  process.stderr.write(`heap-probe ${JSON.stringify(heap)}\n`)
})
