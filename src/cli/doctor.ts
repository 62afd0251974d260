/**
 * `makuo doctor`'s judgement: from the facts gathered on this host (the daemon's status and member table, who
 * answered a PING, the local interfaces and route, kernel limits, the clock), one verdict per thing that makes
 * multicast deployments fail, each with what to do about it. Pure: the command gathers, this decides.
 */
import type { ControlEvent, StatusInfo } from "../control/Protocol.js"
import { type Member, sharedNames } from "../domain/member.js"
import { formatAge, formatOffset } from "./duration.js"
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

  out.push(...clockVerdicts(facts.ntp, s.secure?.mode === "native", answers))

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

/**
 * A member's clock offset from ours (native mode measures it from each PONG) at which doctor warns: NTP keeps a
 * network's clocks within milliseconds, so a second is a clock that is not synchronized.
 */
const CLOCK_WARN_MS = 1000
/** ... and fails: a minute off, and at 10 minutes every native frame between the two is refused (stale or future). */
const CLOCK_FAIL_MS = 60_000

/**
 * This host's NTP, and in native mode each member's clock offset. Why it matters: a received file keeps the
 * sender's mtime, which the receiver reads against its own clock. On a member ahead of us our fresh files look
 * old (and one edited there a moment ago looks newer than the copy we send over it); on a member behind, they lie
 * in its future (make's "clock skew detected", mtime-based caches). Protocol v7 carries no time: no offset.
 */
const clockVerdicts = (ntp: boolean | undefined, native: boolean, answers: ReadonlyArray<ProbeAnswer>): ReadonlyArray<Verdict> => {
  const fix = "enable NTP on every member (timedatectl set-ntp true)"
  const why = "received files keep the sender's mtime, which each member reads against its own clock"
  const local: Verdict = ntp === true
    ? { check: "clock", level: "ok", detail: `this host's clock is NTP-synchronized${native ? "" : " (the members' clocks cannot be read over protocol v7: check each)"}` }
    : ntp === false
    ? { check: "clock", level: "warn", detail: "this host's clock is not NTP-synchronized; makuo compares modification times", fix }
    : { check: "clock", level: "warn", detail: "cannot tell whether this host's clock is synchronized (no timedatectl)", fix: "run NTP on every member: makuo compares modification times" }
  if (!native) return [local]
  const measured = answers.flatMap((a) => a.offsetMs === undefined ? [] : [{ ...a, offsetMs: a.offsetMs }])
  const unmeasured = answers.filter((a) => a.offsetMs === undefined)
  const off = measured.filter((a) => Math.abs(a.offsetMs) >= CLOCK_WARN_MS)
  return [
    local,
    ...(measured.length === 0 ? [] : [{
      check: "clock",
      level: "ok" as const,
      detail: `offsets of the members' clocks from this host's (+ ahead, within half the round trip): ${measured.map((a) => `${a.host} ${formatOffset(a.offsetMs)}`).join(", ")}`
    }]),
    ...off.map((a): Verdict => ({
      check: "clock",
      level: Math.abs(a.offsetMs) >= CLOCK_FAIL_MS ? "fail" : "warn",
      detail: `${a.host} (${a.address}) is ${(Math.abs(a.offsetMs) / 1000).toFixed(1)} s ${a.offsetMs > 0 ? "ahead of" : "behind"} this host: ${why}, so ` +
        (a.offsetMs > 0 ? "our fresh files look old there, older than an edit made there before ours" : "our files lie in its future there (make's \"clock skew detected\", mtime-based caches)"),
      fix
    })),
    ...unmeasured.map((a): Verdict => ({
      check: "clock",
      level: "warn",
      detail: `${a.host} (${a.address}) answered without its time (an older makuo): its clock cannot be read`,
      fix: "upgrade makuo there; meanwhile check its clock by hand"
    }))
  ]
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
  const old = secure.refused["oldVersion"] ?? 0
  return [
    { check: "security", level: "ok", detail: `native mode (key ${secure.keyId}): every datagram sealed and authenticated` },
    ...(v7 === 0 ? [] : [{
      check: "security",
      level: "warn" as const,
      detail: `${v7} datagrams in makuosan v7 (unauthenticated) were heard and ignored: makuosan or an unkeyed makuo runs on this group`,
      fix: "give those daemons the key file (key-file = FILE), or move them to another group or port"
    }]),
    ...(old === 0 ? [] : [{
      check: "security",
      level: "warn" as const,
      detail: `${old} native frames of an earlier makuo release (frame version 1 or 2) were heard and refused: a member runs an older makuo`,
      fix: "upgrade makuo on every member: in native mode all members run one release"
    }])
  ]
}

const label: Record<Level, string> = { ok: "ok", warn: "WARN", fail: "FAIL" }

export const verdictLines = (verdicts: ReadonlyArray<Verdict>): string =>
  verdicts.flatMap((v) => [
    `${label[v.level].padEnd(5)} ${v.check.padEnd(15)} ${v.detail}`,
    ...(v.fix === undefined || v.level === "ok" ? [] : [`${" ".repeat(22)}→ ${v.fix}`])
  ]).join("\n")
