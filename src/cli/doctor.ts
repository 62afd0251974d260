/**
 * `makuo doctor`'s judgement: from the facts gathered on this host (the daemon's status and member table, who
 * answered a PING, the local interfaces and route, kernel limits, the clock), one verdict per thing that makes
 * multicast deployments fail, each with what to do about it. Pure: the command gathers, this decides.
 */
import type { ControlEvent, StatusInfo } from "../control/Protocol.js"
import { type Member, sharedNames } from "../domain/member.js"
import { formatAge } from "./duration.js"
import { mib } from "./render.js"

export type ProbeAnswer = Extract<ControlEvent, { readonly _tag: "ProbeResult" }>["answers"][number]

export interface LocalInterface {
  readonly name: string
  readonly address: string
  readonly internal: boolean
}

export type Facts =
  | { readonly _tag: "NoDaemon"; readonly control: string; readonly reason: string; readonly denied: boolean }
  | {
    readonly _tag: "Daemon"
    readonly control: string
    readonly status: StatusInfo
    readonly members: ReadonlyArray<Member>
    readonly answers: ReadonlyArray<ProbeAnswer>
    readonly waitedMs: number
    readonly interfaces: ReadonlyArray<LocalInterface>
    /** The kernel's route for the group (`ip route get`): its device, or undefined when there is none. */
    readonly route: { readonly dev: string } | undefined | "unknown"
    readonly rmemMax: number | undefined
    /** Whether this host's clock is NTP-synchronized, when the system can tell. */
    readonly ntp: boolean | undefined
  }

export type Level = "ok" | "warn" | "fail"

export interface Verdict {
  readonly check: string
  readonly level: Level
  readonly detail: string
  readonly fix?: string
}

export const diagnose = (facts: Facts): ReadonlyArray<Verdict> => {
  if (facts._tag === "NoDaemon") {
    return [{
      check: "control socket",
      level: "fail",
      detail: `no daemon answers at ${facts.control}: ${facts.reason}`,
      fix: facts.denied
        ? "run as the daemon's user, or be in its control group (daemon --control-group GROUP)"
        : "start it: makuo daemon --base DIR (systemctl start makuo), or point --control / MAKUO_CONTROL at its socket"
    }]
  }
  const { answers, interfaces, members, status: s } = facts
  const out: Array<Verdict> = [{
    check: "control socket",
    level: "ok",
    detail: `${facts.control}: makuo ${s.version} on ${s.host} (pid ${s.pid}), up ${formatAge(s.now - s.startedAt)}`
  }]

  // where the group's traffic goes
  const group = `group ${s.group}:${s.port}`
  const external = interfaces.filter((i) => !i.internal)
  if (s.interface !== "default") {
    const own = interfaces.find((i) => i.address === s.interface)
    out.push(own === undefined
      ? { check: "interface", level: "fail", detail: `${group} on ${s.interface}, which is no address of this host`, fix: `interface = one of ${interfaces.map((i) => `${i.address} (${i.name})`).join(", ")}` }
      : { check: "interface", level: "ok", detail: `${group} on ${s.interface} (${own.name})` })
  } else if (facts.route === "unknown") {
    out.push({ check: "interface", level: "warn", detail: `${group} on the kernel's route, which could not be read ('ip' missing)`, fix: "set interface = ADDR to be sure which network carries it" })
  } else if (facts.route === undefined) {
    out.push({ check: "interface", level: "fail", detail: `${group}: the kernel has no route for it, so nothing reaches the other servers`, fix: "set interface = ADDR (the address on the cluster's network)" })
  } else if (external.length > 1) {
    out.push({
      check: "interface",
      level: "warn",
      detail: `${group} goes out via ${facts.route.dev}, the kernel's choice on a host with ${external.length} interfaces`,
      fix: `set interface = the address on the cluster's network (${external.map((i) => `${i.address} ${i.name}`).join(", ")})`
    })
  } else out.push({ check: "interface", level: "ok", detail: `${group} via ${facts.route.dev} (the kernel's route)` })

  out.push(s.ttl === 1
    ? { check: "ttl", level: "ok", detail: "1: the group stays on this network segment" }
    : s.ttl === 0
    ? { check: "ttl", level: "fail", detail: "0: no datagram leaves this host", fix: "ttl = 1" }
    : { check: "ttl", level: "warn", detail: `${s.ttl}: the group crosses up to ${s.ttl - 1} routers, to whoever is there`, fix: "ttl = 1 unless the cluster spans routed networks" })

  // who answers
  const rtts = answers.map((a) => `${a.host} ${a.rttMs.toFixed(0)} ms`).join(", ")
  if (answers.length === 0) {
    out.push({
      check: "members",
      level: "warn",
      detail: `no other daemon answered a PING within ${(facts.waitedMs / 1000).toFixed(1)} s${members.length > 0 ? ` (${members.length} in the member table)` : ""}`,
      fix: `run makuo (or makuosan) on the other servers with the same group and port; let udp/${s.port} through their firewalls; with IGMP snooping on the switches, make sure the network has a querier`
    })
  } else out.push({ check: "members", level: "ok", detail: `${answers.length} answered a PING: ${rtts}` })
  for (const m of members.filter((m) => !answers.some((a) => a.address === m.address))) {
    out.push({
      check: "members",
      level: "warn",
      detail: `${m.host} (${m.address}) is in the member table, last heard ${formatAge(s.now - m.lastSeen)} ago, but did not answer`,
      fix: "it may be overloaded, stopping, or reachable one way only (firewall on its side?)"
    })
  }

  // protocol v7 authenticates nobody: a second host announcing a name makes that name pick no host reliably
  for (const [name, addresses] of sharedNames([...members, { host: s.host, address: "this daemon" }])) {
    out.push({
      check: "names",
      level: "fail",
      detail: `${addresses.length} hosts announce the name ${name}: ${addresses.join(", ")}`,
      fix: `one is misconfigured or an impostor: fix its --name (or find who runs it); until then -t ${name} is refused and -t ADDRESS picks one`
    })
  }

  out.push(...secureVerdicts(s))

  // mtimes decide what is sent: a member whose clock runs ahead makes files edited there look newer
  out.push(facts.ntp === true
    ? { check: "clock", level: "ok", detail: "this host's clock is NTP-synchronized (the members' clocks cannot be read over protocol v7: check each)" }
    : facts.ntp === false
    ? { check: "clock", level: "warn", detail: "this host's clock is not NTP-synchronized; makuo compares modification times", fix: "enable NTP on every member (timedatectl set-ntp true)" }
    : { check: "clock", level: "warn", detail: "cannot tell whether this host's clock is synchronized (no timedatectl)", fix: "run NTP on every member: makuo compares modification times" })

  out.push(s.readonly
    ? { check: "base", level: "ok", detail: `${s.base} (read-only daemon: answers READONLY)` }
    : s.baseWritable
    ? { check: "base", level: "ok", detail: `${s.base} is writable by the daemon` }
    : { check: "base", level: "fail", detail: `${s.base} is not writable by the daemon: every transfer will fail`, fix: "chown the base to the daemon's user (or run it with readonly = true on purpose)" })

  if (facts.rmemMax !== undefined && s.recvBuffer > facts.rmemMax) {
    out.push({
      check: "receive buffer",
      level: "warn",
      detail: `the kernel caps SO_RCVBUF at ${mib(facts.rmemMax)} (net.core.rmem_max); the daemon asks for ${mib(s.recvBuffer)}: bursts may be dropped`,
      fix: `sysctl -w net.core.rmem_max=${s.recvBuffer} (and in /etc/sysctl.d/ to keep it)`
    })
  } else out.push({ check: "receive buffer", level: "ok", detail: `${mib(s.recvBuffer)} asked for${facts.rmemMax === undefined ? "" : `, the kernel allows ${mib(facts.rmemMax)}`}` })
  out.push(...dropVerdicts(s))
  return out
}

/** What the kernel dropped on the daemon's sockets since it started; nothing to say where that is unknown (node:dgram). */
const dropVerdicts = (s: StatusInfo): ReadonlyArray<Verdict> => {
  const drops = s.counters.kernelDrops
  if (drops === null) return []
  return drops === 0
    ? [{ check: "receive drops", level: "ok", detail: "the kernel dropped no datagram for the daemon since it started" }]
    : [{
      check: "receive drops",
      level: "warn",
      detail: `the kernel dropped ${drops} datagrams for the daemon since it started: its receive buffer (${mib(s.recvBuffer)} asked for) was full (what is lost is sent again: transfers slow down)`,
      fix: "raise recv-buffer (makuo.conf, or --recv-buffer) and net.core.rmem_max to at least as much (sysctl -w, and in /etc/sysctl.d/), then restart the daemon"
    }]
}

/** Native mode or v7, and hosts on the group that speak the other format (they hear nothing from each other). */
const secureVerdicts = (s: StatusInfo): ReadonlyArray<Verdict> => {
  const secure = s.secure
  if (secure === undefined) return []
  if (secure.mode === "v7") {
    const native = secure.refused["native"] ?? 0
    return native === 0 ? [] : [{
      check: "security",
      level: "warn",
      detail: `${native} datagrams in the native format were heard and ignored: hosts on this group run with a key file, this daemon without`,
      fix: "give this daemon the cluster's key file: key-file = FILE in makuo.conf (or --key-file), then restart it"
    }]
  }
  const v7 = secure.refused["v7"] ?? 0
  return [
    { check: "security", level: "ok", detail: `native mode (key ${secure.keyId}): every datagram sealed and authenticated` },
    ...(v7 === 0 ? [] : [{
      check: "security",
      level: "warn" as const,
      detail: `${v7} datagrams in makuosan v7 (unauthenticated) were heard and ignored: makuosan or an unkeyed makuo runs on this group`,
      fix: "give those daemons the key file (key-file = FILE), or move them to another group or port"
    }])
  ]
}

const label: Record<Level, string> = { ok: "ok", warn: "WARN", fail: "FAIL" }

export const verdictLines = (verdicts: ReadonlyArray<Verdict>): string =>
  verdicts.flatMap((v) => [
    `${label[v.level].padEnd(5)} ${v.check.padEnd(15)} ${v.detail}`,
    ...(v.fix === undefined || v.level === "ok" ? [] : [`${" ".repeat(22)}→ ${v.fix}`])
  ]).join("\n")
