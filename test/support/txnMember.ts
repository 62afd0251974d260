/**
 * A member of a tree transaction for tests: the member machine (`memberMachine.ts`) exactly, its actions carried
 * out on a tree in memory (the member's driver is not under test): lookups by size and nanosecond mtime (under
 * `--checksum` by SHA-256), a check's findings by SHA-256, writes into temps, staging that checks the SHA-256 (or fails the paths it is told to), a switch that puts every staged
 * entry in place at once.
 */
import { createHash } from "node:crypto"
import * as Member from "../../src/transfer/txn/memberMachine.js"
import type { Entry, Mtime, ToMember, ToSender } from "../../src/transfer/txn/messages.js"
import { type Target } from "../../src/transfer/engine/rtt.js"

const EACCES = 13
const EIO = 5

export interface Held {
  readonly type: Entry["type"]
  readonly mtime: Mtime
  readonly mode: number
  readonly contents: Uint8Array
  readonly target?: string
}

export interface FakeMember {
  readonly target: Target
  readonly tree: Map<string, Held>
  readonly temps: Map<number, Uint8Array>
  /** Paths whose staging fails (EACCES). */
  readonly failing: ReadonlySet<string>
  /** Deaf and mute. */
  silent: boolean
  session: Member.MemberSession | undefined
  switches: number
  /** The manifest's paths looked up: under `--delete`, what it has beyond them it removes. */
  readonly listed: Set<string>
}

export const fakeMember = (i: number, tree: Map<string, Held> = new Map(), failing: ReadonlyArray<string> = [], prefix = "10.0.0"): FakeMember => ({
  target: { host: `h${i}`, address: `${prefix}.${i}`, port: 5000 },
  tree,
  temps: new Map(),
  failing: new Set(failing),
  silent: false,
  session: undefined,
  switches: 0,
  listed: new Set()
})

const sameMtime = (a: Mtime, b: Mtime) => a.sec === b.sec && a.nsec === b.nsec
const sameDigest = (here: Held, e: Entry) => createHash("sha256").update(here.contents).digest().equals(e.digest!)

const need = (m: FakeMember, e: Entry, checksum: boolean): Member.Need => {
  const here = m.tree.get(e.path)
  if (e.type === "file") {
    if (here === undefined || here.type !== "file" || here.contents.length !== e.size) return "contents"
    if (!(checksum ? sameDigest(here, e) : sameMtime(here.mtime, e.mtime))) return "contents"
    return here.mode === e.mode && sameMtime(here.mtime, e.mtime) ? "none" : "metadata"
  }
  return here !== undefined && here.type === e.type && here.mode === e.mode && here.target === e.target ? "none" : "metadata"
}

export interface MemberIo {
  /** Bytes of a block: what the sender's MTU gives. */
  readonly block: number
  /** Sends an answer to the sender. */
  readonly reply: (message: ToSender) => void
  /** Runs the driver's answer to a lookup, a staging, a switch: later, or at once. */
  readonly later: (f: () => void) => void
}

const step = (m: FakeMember, io: MemberIo, e: Member.Event) => {
  const out: Array<Member.Action> = []
  Member.step(m.session!, e, out)
  for (const a of out) {
    switch (a._tag) {
      case "Reply":
        if (!m.silent) io.reply(a.message)
        break
      case "Lookup":
        for (const x of a.entries) m.listed.add(x.path)
        io.later(() => step(m, io, { _tag: "LookedUp", batch: a.batch, needs: a.entries.map((x) => need(m, x, a.checksum)) }))
        break
      case "Verify": {
        const finding = (x: Entry): Member.Finding => {
          const here = m.tree.get(x.path)
          // only files are compared
          if (x.type !== "file") return "same"
          if (here === undefined) return "missing"
          if (m.failing.has(x.path)) return { errno: EACCES }
          return here.contents.length === x.size && sameDigest(here, x) ? "same" : "differs"
        }
        io.later(() => step(m, io, { _tag: "Verified", batch: a.batch, findings: a.entries.map(finding) }))
        break
      }
      case "Write": {
        const temp = m.temps.get(a.index) ?? new Uint8Array(a.entry.size)
        temp.set(a.bytes, a.offset)
        m.temps.set(a.index, temp)
        break
      }
      case "Stage": {
        const temp = m.temps.get(a.index)
        // against the sender's digest as the machine hands it over (the manifest's, or the one sent after the data)
        const bad = temp !== undefined && (a.digest === undefined || !createHash("sha256").update(temp).digest().equals(a.digest))
        const errno = m.failing.has(a.entry.path) ? EACCES : bad ? EIO : 0
        io.later(() => step(m, io, { _tag: "Staged", index: a.index, errno }))
        break
      }
      case "Scan": {
        // under the scope's roots (none: the whole tree); `sync`'s named roots only themselves
        const roots = a.scope?.roots ?? []
        const under = (path: string) =>
          roots.length === 0 || roots.some((r) => r === "." || path === r || (a.scope?.named !== true && path.startsWith(`${r}/`)))
        io.later(() => step(m, io, { _tag: "Scanned", removals: [...m.tree.keys()].filter((path) => under(path) && !m.listed.has(path)), errno: 0 }))
        break
      }
      case "Switch": {
        m.switches++
        const byEntry = new Map([...m.session!.needed.values()].map((n) => [n.entry, n.index]))
        for (const x of a.entries) {
          const held = m.tree.get(x.path)
          const contents = m.temps.get(byEntry.get(x)!) ?? (x.type === "file" ? held?.contents ?? new Uint8Array(0) : new Uint8Array(0))
          m.tree.set(x.path, { type: x.type, mtime: x.mtime, mode: x.mode, contents, ...(x.target !== undefined ? { target: x.target } : {}) })
        }
        for (const path of a.removals) m.tree.delete(path)
        m.temps.clear()
        io.later(() => step(m, io, { _tag: "Switched", errno: 0 }))
        break
      }
      case "Discard":
        m.temps.clear()
        break
      default:
        a satisfies never
    }
  }
}

/** A message reaches the member: a transaction it does not hold opens on a Manifest, anything else is answered Unknown. */
export const receive = (m: FakeMember, message: ToMember, io: MemberIo) => {
  if (m.silent) return
  if (m.session === undefined || m.session.txn !== message.txn) {
    if (!Member.opens(message)) return io.reply({ _tag: "Unknown", txn: message.txn })
    m.session = Member.make(message.txn, io.block)
  }
  step(m, io, { _tag: "Message", message })
}
