/** A daemon's status as `makuo status` receives it: an idle daemon on web1, for tests of what clients make of it. */
import type { StatusInfo } from "../../src/control/Protocol.js"

export const idleStatus: StatusInfo = {
  version: "0.1.0", host: "web1", pid: 42, base: "/var/www", group: "224.0.0.108", port: 5000, bind: "0.0.0.0",
  interface: "default", ttl: 1, recvBuffer: 8 << 20, readonly: false, baseWritable: true, io: "gso",
  startedAt: 0, now: 60_000, members: 1,
  counters: {
    datagramsIn: 0, datagramsOut: 0, malformed: 0, foreign: 0, sendErrors: 0, overflowed: 0, kernelDrops: 0, refusedSessions: 0, refusedDescriptors: 0,
    refusedPatterns: 0, unknownTransfers: 0, refusedPaths: 0, setidDropped: 0, diskFull: 0, retransmittedBlocks: 0, resentBytes: 0, membersLost: 0
  },
  memory: { rss: 0, heapUsed: 0, heapTotal: 0, external: 0 }, outgoing: [], incoming: []
}
