// Loaded into a daemon under test with `node --import`: on SIGUSR2 it prints one line on stderr,
// `heap-probe {"peakMallocedBytes":…,"arrayBuffers":…}`, for tests of what the daemon holds (plain JavaScript: node
// loads it before the CLI).
import { getHeapStatistics } from "node:v8"

process.on("SIGUSR2", () => {
  const heap = { peakMallocedBytes: getHeapStatistics().peak_malloced_memory, arrayBuffers: process.memoryUsage().arrayBuffers }
  process.stderr.write(`heap-probe ${JSON.stringify(heap)}\n`)
})
