// Loaded into a daemon under test with `node --import`: on SIGUSR2 it prints one line on stderr,
// `heap-probe {"peakMallocedBytes":…,"arrayBuffers":…,"youngGenerationBytes":…}`, for tests of what the daemon holds (plain JavaScript: node
// loads it before the CLI). Under `node --expose-gc` it first runs a full collection (one that does not compact
// every page) and adds the old generation's size and what of it is alive, `oldSpaceBytes` and `oldSpaceLiveBytes`.
import { getHeapSpaceStatistics, getHeapStatistics } from "node:v8"

process.on("SIGUSR2", () => {
  globalThis.gc?.()
  const old = globalThis.gc === undefined ? undefined : getHeapSpaceStatistics().find((s) => s.space_name === "old_space")
  const heap = {
    ...(old === undefined ? {} : { oldSpaceBytes: old.space_size, oldSpaceLiveBytes: old.space_used_size }),
    peakMallocedBytes: getHeapStatistics().peak_malloced_memory,
    arrayBuffers: process.memoryUsage().arrayBuffers,
    youngGenerationBytes: getHeapSpaceStatistics().find((s) => s.space_name === "new_space")?.space_size
  }
  process.stderr.write(`heap-probe ${JSON.stringify(heap)}\n`)
})
