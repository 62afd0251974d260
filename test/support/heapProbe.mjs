// Loaded into a daemon under test with `node --import`: on SIGUSR2 it prints one line on stderr,
// `heap-probe {"youngBytes":…,"arrayBuffers":…}`, for tests of what the daemon holds (plain JavaScript: node loads it).
import { getHeapSpaceStatistics } from "node:v8"

process.on("SIGUSR2", () => {
  const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space")
  process.stderr.write(`heap-probe ${JSON.stringify({ youngBytes: young?.space_size, arrayBuffers: process.memoryUsage().arrayBuffers })}\n`)
})
