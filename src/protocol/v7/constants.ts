/**
 * makuosan protocol v7 numbers (makuosan-v7.md §2). Names are the C names so captures and the C sources read alike.
 */

export const PROTOCOL_VERSION = 7
export const HEADER_SIZE = 42
/** Largest payload, and the size of one file block. */
export const MAX_PAYLOAD = 1024
export const BLOCK_SIZE = 1024
/** mstat is 36 bytes plus the two names; both names must fit one payload (makuosan-v7.md §2.7, E14). */
export const MSTAT_FIXED = 36

export const Opcode = {
  PING: 0,
  EXIT: 1,
  SEND: 2,
  MD5: 3,
  DSYNC: 4,
  DEL: 5
} as const
export type OpcodeName = keyof typeof Opcode
export type KnownOpcode = (typeof Opcode)[OpcodeName]

export const Flag = {
  ACK: 0x0001,
  CRYPT: 0x0002,
  DRYRUN: 0x0004,
  RECURS: 0x0008,
  SYNC: 0x0010
} as const
export type FlagName = keyof typeof Flag

/** `nstate` of a request (makuosan-v7.md §2.5). */
export const SendState = {
  STAT: 0,
  OPEN: 1,
  DATA: 2,
  MARK: 3,
  CLOSE: 4,
  LAST: 5,
  ERROR: 6,
  BREAK: 7,
  WAIT: 8
} as const
export type SendStateName = keyof typeof SendState
export type SendStateValue = (typeof SendState)[SendStateName]

/** `nstate` of an ACK (makuosan-v7.md §2.6). */
export const RecvState = {
  NONE: 0,
  UPDATE: 1,
  SKIP: 2,
  OPEN: 3,
  MARK: 4,
  CLOSE: 5,
  IGNORE: 6,
  READONLY: 7,
  BREAK: 8,
  LAST: 9,
  MD5OK: 10,
  MD5NG: 11,
  DELETEOK: 12,
  DELETENG: 13,
  OPENERROR: 90,
  READERROR: 91,
  WRITEERROR: 92,
  CLOSEERROR: 93
} as const
export type RecvStateName = keyof typeof RecvState
export type RecvStateValue = (typeof RecvState)[RecvStateName]

const invert = <K extends string>(table: Record<K, number>): ReadonlyMap<number, K> =>
  new Map(Object.entries(table).map(([name, value]) => [value as number, name as K]))

const recvStateNames = invert(RecvState)

export const recvStateName = (value: number): RecvStateName | undefined => recvStateNames.get(value)
