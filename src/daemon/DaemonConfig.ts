import type { Duration } from "effect"
import type { ConsoleSettings } from "../console/Console.js"
import type { Account } from "./accounts.js"
import type { KeyFileSettings } from "../secure/SecureTransport.js"

export interface DaemonConfig {
  /** Absolute, resolved base directory: every path on the wire is relative to it. */
  readonly base: string
  readonly group: string
  readonly port: number
  readonly bind: string
  /** Interface address for the group; undefined = the kernel's routing decides (makuosan's 0.0.0.0). */
  readonly interface: string | undefined
  readonly ttl: number
  readonly name: string
  readonly memberTimeout: Duration.Duration
  /** Receive sessions without a datagram for this long are collected (temp file removed). */
  readonly sessionTimeout: Duration.Duration
  readonly control: string
  readonly recvBufferSize: number | undefined
  readonly sendBufferSize: number | undefined
  /** makuosan's `-r`: never change anything here, answer READONLY. */
  readonly readonly: boolean
  /** Apply setuid/setgid bits that peers send (makuosan's behaviour); off by default. */
  readonly keepSetId: boolean
  /** Receive sessions at once, from all peers and from one. */
  readonly maxSessions: number
  readonly maxSessionsPerPeer: number
  /** Temp files (received files in flight) open at once. */
  readonly maxTempFiles: number
  /** The account a root daemon switches to once its sockets are open (`--user`/`--group`). */
  readonly runAs: Account | undefined
  /** Members of this gid may use the control socket too (mode 0660). */
  readonly controlGroup: number | undefined
  /** makuosan's text console for msync, off unless asked for. */
  readonly console: ConsoleSettings | undefined
  /** Where native transactions' switches are journaled: outside the base (`--journal-dir`). */
  readonly journalDir: string
  /** Native mode's key file, read at start; undefined: protocol v7 (unauthenticated). */
  readonly keyFile?: KeyFileSettings | undefined
  /** Native mode: the path MTU every transaction datagram fits (checked with `budgetFor`); 1500 when absent. */
  readonly mtu?: number | undefined
}
