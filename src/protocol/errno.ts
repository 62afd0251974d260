/**
 * Linux errno values as they travel in the header's `error` field (makuosan sends its receivers' raw errno).
 * `strerror` gives glibc's text, which the msync console prints; `describeErrno` the name with what it means
 * for a transfer, which the makuo CLI prints.
 */
/** The errno values the store and the transfers set themselves (Linux's numbers, as on the wire). */
export const EIO = 5
export const EACCES = 13
export const EISDIR = 21
export const EINVAL = 22
export const EMFILE = 24
export const ENOSPC = 28
export const EROFS = 30
export const ELOOP = 40
export const ENOTSUP = 95
export const ESTALE = 116

const table: Record<number, readonly [name: string, strerror: string, hint?: string]> = {
  1: ["EPERM", "Operation not permitted"],
  2: ["ENOENT", "No such file or directory"],
  5: ["EIO", "Input/output error", "incomplete or wrong size at commit"],
  13: ["EACCES", "Permission denied", "permission denied or path refused"],
  16: ["EBUSY", "Device or resource busy"],
  17: ["EEXIST", "File exists"],
  18: ["EXDEV", "Invalid cross-device link"],
  20: ["ENOTDIR", "Not a directory", "a parent is not a directory"],
  21: ["EISDIR", "Is a directory"],
  22: ["EINVAL", "Invalid argument"],
  24: ["EMFILE", "Too many open files"],
  26: ["ETXTBSY", "Text file busy"],
  27: ["EFBIG", "File too large"],
  28: ["ENOSPC", "No space left on device"],
  30: ["EROFS", "Read-only file system"],
  36: ["ENAMETOOLONG", "File name too long", "name too long"],
  39: ["ENOTEMPTY", "Directory not empty"],
  40: ["ELOOP", "Too many levels of symbolic links", "a parent directory is a symlink (refused)"],
  95: ["ENOTSUP", "Operation not supported", "not supported"],
  122: ["EDQUOT", "Disk quota exceeded"]
}

export const strerror = (errno: number): string => table[errno]?.[1] ?? `Unknown error ${errno}`

export const describeErrno = (errno: number): string => {
  const entry = table[errno]
  if (entry === undefined) return `errno ${errno}`
  const [name, text, hint] = entry
  return `${name}: ${hint ?? text.charAt(0).toLowerCase() + text.slice(1)}`
}
