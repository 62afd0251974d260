/** Human and JSON renderings of what the daemon reports. */
import type { StatusInfo } from "../control/Protocol.js"
import { type Member, sharedNames } from "../domain/member.js"
import { formatAge, formatOffset } from "./duration.js"

export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): string => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: ReadonlyArray<string>) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")
  return [line(header), ...rows.map(line)].join("\n")
}

export const membersText = (members: ReadonlyArray<Member>, now: number): string => {
  if (members.length === 0) return "no members (no other daemon has answered on this group yet)"
  // native mode measures each member's clock (protocol v7 cannot): a column of offsets then
  const clocks = members.some((m) => m.clock !== undefined)
  const rows = members.map((m) => [
    m.host, m.address, m.version, `${formatAge(now - m.lastSeen)} ago`,
    ...(clocks ? [m.clock === undefined ? "-" : formatOffset(m.clock.offsetMs)] : [])
  ])
  const shared = [...sharedNames(members)].map(([name, addresses]) =>
    `WARNING: ${addresses.length} hosts announce the name ${name} (${addresses.join(", ")}): a misconfigured --name or an impostor; -t ${name} is refused, -t ADDRESS picks one`)
  return [table(["HOST", "ADDRESS", "VERSION", "LAST SEEN", ...(clocks ? ["CLOCK"] : [])], rows), `${members.length} member${members.length === 1 ? "" : "s"}`, ...shared].join("\n")
}

const iso = (ms: number) => new Date(ms).toISOString()

export const membersJson = (members: ReadonlyArray<Member>): string =>
  JSON.stringify({
    members: members.map((m) => ({ ...m, lastSeen: iso(m.lastSeen), since: iso(m.since), ...(m.clock && { clock: { ...m.clock, at: iso(m.clock.at) } }) }))
  })

const ioText: Record<StatusInfo["io"], string> = {
  gso: "gso (native: UDP_SEGMENT bursts, recvmmsg)",
  sendmmsg: "sendmmsg (native: the kernel refused UDP_SEGMENT; recvmmsg)",
  dgram: "dgram (node:dgram, one system call per datagram)",
  memory: "memory (test network)"
}

export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

/** `mode native (key 3f9a01c2)` or `mode v7 (unauthenticated)`, then what the secure layer refused, by reason. */
const secureText = (secure: NonNullable<StatusInfo["secure"]>): string => {
  const refused = Object.entries(secure.refused).filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${n}`)
  const mode = secure.mode === "native"
    ? `mode native (key ${secure.keyId})  epochs ${secure.epochs}  challenges ${secure.challengesSent}  answers ${secure.answersSent}  admitted ${secure.admitted}`
    : "mode v7 (unauthenticated)"
  return `secure     ${mode}  refused ${refused.length === 0 ? "none" : refused.join("  ")}`
}

export const statusText = (s: StatusInfo): string => {
  const c = s.counters
  const outgoing = s.outgoing.map((o) => {
    const done = o.blocks === 0 ? "" : ` ${Math.min(o.sent, o.blocks)}/${o.blocks} blocks`
    const rate = o.blocks === 0 || s.now <= o.startedAt ? "" : ` ${((o.sent * 1024) / 1000 / (s.now - o.startedAt)).toFixed(1)} MB/s`
    return `  ${o.operation} ${o.path}${done}${rate} (${formatAge(s.now - o.startedAt)}): ${o.hosts.map((h) => `${h.host} ${h.state}`).join(", ")}`
  })
  const incoming = s.incoming.map((i) =>
    `  ${i.path} from ${i.from}: ${i.phase}${i.blocks === 0 ? "" : `, ${i.blocks - i.missing}/${i.blocks} blocks`}`)
  return [
    `makuo ${s.version} on ${s.host} (pid ${s.pid}), up ${formatAge(s.now - s.startedAt)}`,
    `base       ${s.base}`,
    `group      ${s.group}:${s.port} on interface ${s.interface}, bound to ${s.bind}`,
    `io         ${ioText[s.io]}`,
    ...(s.secure === undefined ? [] : [secureText(s.secure)]),
    `members    ${s.members}`,
    `datagrams  in ${c.datagramsIn}  out ${c.datagramsOut}  malformed ${c.malformed}  foreign ${c.foreign}` +
    `  overflowed ${c.overflowed}  kernel drops ${c.kernelDrops ?? "unknown"}  send errors ${c.sendErrors}`,
    `refused    sessions ${c.refusedSessions}  descriptors ${c.refusedDescriptors}  patterns ${c.refusedPatterns}  unknown transfers ${c.unknownTransfers}  paths ${c.refusedPaths}` +
    `  setid bits ${c.setidDropped}  disk full ${c.diskFull}`,
    `memory     rss ${mib(s.memory.rss)}  heap ${mib(s.memory.heapUsed)} of ${mib(s.memory.heapTotal)}  external ${mib(s.memory.external)}`,
    `transfers  retransmitted blocks ${c.retransmittedBlocks} (v7), bytes ${c.resentBytes} (native)  members lost ${c.membersLost}`,
    `sending    ${s.outgoing.length === 0 ? "nothing" : s.outgoing.length}`,
    ...outgoing,
    `receiving  ${s.incoming.length === 0 ? "nothing" : s.incoming.length}`,
    ...incoming
  ].join("\n")
}

export const statusJson = (s: StatusInfo): string =>
  JSON.stringify({
    ...s,
    startedAt: iso(s.startedAt),
    now: iso(s.now),
    uptimeSeconds: Math.floor((s.now - s.startedAt) / 1000),
    outgoing: s.outgoing.map((o) => ({ ...o, startedAt: iso(o.startedAt) }))
  })
