/*
 * A member's staging of a small file whose contents it holds (src/store/stageCalls.ts): the temp's whole
 * sequence in one call, through the parent directory's descriptor (openat: nothing resolved from a path, no
 * symlink followed), instead of six calls from JavaScript each building a /proc/self/fd path and a Stats object.
 *
 *   createFile(dirFd, name, bytes, mode, uid, gid, chown, sec, nsec) -> 0 | errno
 *
 * creates `name` in `dirFd` (O_EXCL|O_NOFOLLOW, 0600: never an existing entry, never through a link), writes
 * `bytes`, gives it owner uid:gid when `chown` and it differs (root only: the caller says), then mode `mode` when it
 * differs or the owner changed (a change of owner clears setuid/setgid, so the mode is set after it), its times
 * (atime = mtime = sec.nsec), and closes it. On any failure the temp is removed again and the errno returned.
 *
 *   renameAt(dirFd, from, to) -> 0 | errno
 *
 * renames `from` to `to`, both in `dirFd` (a switch's temp over its target: renameat, nothing resolved from a path).
 *
 *   statNames(dirFd, names: Uint8Array, count, fields: Float64Array) -> 0 | errno
 *
 * a member's lookup of a manifest batch's entries that share a directory: `count` names, each NUL-terminated, one
 * after the other in `names`, each lstat'ed in `dirFd` (fstatat, AT_SYMLINK_NOFOLLOW: nothing followed, nothing
 * resolved from a path), into STAT_FIELDS numbers per name in `fields` (the order of the STAT_ constants below,
 * mirrored by src/store/stageCalls.ts): its errno (0: found), then mode, uid, gid, size, mtime seconds and
 * nanoseconds. One call instead of one `lstat` per entry, each with a path through /proc/self/fd and a Stats object.
 *
 *   renameAll(dirFd, names: Uint8Array, count, errnos: Int32Array) -> 0 | errno
 *
 * a switch's renames in one directory: `count` pairs of NUL-terminated names (from, to) one after the other in
 * `names`, each renamed in `dirFd` as `renameAt` does; the errno of each (0: done) in `errnos`. One call per directory
 * instead of one per entry.
 *
 * A name is a string (UTF-8) or the bytes of a name that is not UTF-8.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "makuo_args.h"

#define NAME_MAX_BYTES 255

/* "." and ".." name the directory itself and its parent: never an entry of it (docs/security.md, confinement) */
static bool dot_name(const char* name, size_t n) {
  return name[0] == '.' && (n == 1 || (n == 2 && name[1] == '.'));
}

/* the name as NUL-terminated bytes in `out` (NAME_MAX_BYTES + 1); 0 or the errno that refuses it */
static int name_arg(napi_env env, napi_value v, char* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return EINVAL;
  size_t length = 0;
  if (t == napi_string) {
    if (napi_get_value_string_utf8(env, v, NULL, 0, &length) != napi_ok) return EINVAL;
    if (length > NAME_MAX_BYTES) return ENAMETOOLONG;
    if (napi_get_value_string_utf8(env, v, out, NAME_MAX_BYTES + 1, &length) != napi_ok) return EINVAL;
  } else {
    napi_typedarray_type type;
    napi_value buffer;
    size_t offset;
    void* data;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_uint8_array) return EINVAL;
    if (length > NAME_MAX_BYTES) return ENAMETOOLONG;
    memcpy(out, data, length);
    out[length] = 0;
  }
  /* a NUL inside would end the name early, a slash would name something in another directory */
  if (length == 0 || strlen(out) != length || memchr(out, '/', length) != NULL || dot_name(out, length)) return EINVAL;
  return 0;
}

static napi_value errno_value(napi_env env, int e) {
  napi_value v;
  napi_create_int32(env, e, &v);
  return v;
}

static int write_all(int fd, const uint8_t* data, size_t length) {
  for (size_t done = 0; done < length;) {
    ssize_t n = pwrite(fd, data + done, length - done, (off_t)done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    done += (size_t)n;
  }
  return 0;
}

static napi_value create_file(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 9) return errno_value(env, EINVAL);
  int32_t dir_fd, mode;
  uint32_t uid, gid, nsec;
  int64_t sec;
  bool chown;
  void* data;
  size_t length;
  napi_typedarray_type type;
  napi_value buffer;
  size_t offset;
  char name[NAME_MAX_BYTES + 1];
  if (napi_get_value_int32(env, argv[0], &dir_fd) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_uint8_array ||
      napi_get_value_int32(env, argv[3], &mode) != napi_ok || napi_get_value_uint32(env, argv[4], &uid) != napi_ok ||
      napi_get_value_uint32(env, argv[5], &gid) != napi_ok || napi_get_value_bool(env, argv[6], &chown) != napi_ok ||
      napi_get_value_int64(env, argv[7], &sec) != napi_ok || napi_get_value_uint32(env, argv[8], &nsec) != napi_ok ||
      nsec >= 1000000000u || dir_fd < 0) {
    /* a negative descriptor (AT_FDCWD) would name the file from the daemon's working directory, not the parent's */
    return errno_value(env, EINVAL);
  }
  int refused = name_arg(env, argv[1], name);
  if (refused != 0) return errno_value(env, refused);
  int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return errno_value(env, errno);
  int e = write_all(fd, data, length);
  struct stat st;
  if (e == 0 && fstat(fd, &st) != 0) e = errno;
  bool chowned = e == 0 && chown && (st.st_uid != uid || st.st_gid != gid);
  if (chowned && fchown(fd, uid, gid) != 0) e = errno;
  if (e == 0 && (chowned || (st.st_mode & 07777) != (mode_t)(mode & 07777)) && fchmod(fd, (mode_t)(mode & 07777)) != 0) e = errno;
  struct timespec times[2] = {{.tv_sec = sec, .tv_nsec = nsec}, {.tv_sec = sec, .tv_nsec = nsec}};
  if (e == 0 && futimens(fd, times) != 0) e = errno;
  /* a close that reports a write error (EIO on NFS, ENOSPC) fails the file too: its contents may be incomplete */
  if (close(fd) != 0 && e == 0 && errno != EINTR) e = errno;
  if (e != 0) unlinkat(dir_fd, name, 0);
  return errno_value(env, e);
}

static napi_value rename_at(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t dir_fd;
  char from[NAME_MAX_BYTES + 1], to[NAME_MAX_BYTES + 1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || napi_get_value_int32(env, argv[0], &dir_fd) != napi_ok || dir_fd < 0) {
    return errno_value(env, EINVAL);
  }
  int refused = name_arg(env, argv[1], from);
  if (refused == 0) refused = name_arg(env, argv[2], to);
  if (refused != 0) return errno_value(env, refused);
  return errno_value(env, renameat(dir_fd, from, dir_fd, to) == 0 ? 0 : errno);
}

enum { STAT_ERRNO, STAT_MODE, STAT_UID, STAT_GID, STAT_SIZE, STAT_MTIME_SEC, STAT_MTIME_NSEC, STAT_FIELDS };

/* the next NUL-terminated name at `*at` of `names` (`length` bytes), checked as name_arg checks one; NULL when none */
static const char* next_name(const uint8_t* names, size_t length, size_t* at) {
  if (*at >= length) return NULL;
  const char* name = (const char*)names + *at;
  const uint8_t* end = memchr(names + *at, 0, length - *at);
  if (end == NULL) return NULL;
  size_t n = (size_t)(end - (names + *at));
  *at += n + 1;
  /* a slash would name something in another directory; an empty name the directory itself */
  if (n == 0 || n > NAME_MAX_BYTES || memchr(name, '/', n) != NULL || dot_name(name, n)) return NULL;
  return name;
}

/*
 * The arguments of a call over a list of names in one directory: (directory fd, names, count, out), `out` a typed
 * array of `want` with room for `per` elements a name; false when any is not so
 */
static bool list_args(napi_env env, napi_callback_info info, napi_typedarray_type want, size_t per, int32_t* dir_fd, void** names,
                      size_t* names_length, uint32_t* count, void** out) {
  size_t argc = 4;
  napi_value argv[4];
  size_t out_length;
  return napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 4 && napi_get_value_int32(env, argv[0], dir_fd) == napi_ok &&
         *dir_fd >= 0 && typed_arg(env, argv[1], napi_uint8_array, names, names_length) && napi_get_value_uint32(env, argv[2], count) == napi_ok &&
         typed_arg(env, argv[3], want, out, &out_length) && out_length >= (size_t)*count * per;
}

static napi_value stat_names(napi_env env, napi_callback_info info) {
  int32_t dir_fd;
  uint32_t count;
  void *names, *fields;
  size_t names_length;
  if (!list_args(env, info, napi_float64_array, STAT_FIELDS, &dir_fd, &names, &names_length, &count, &fields)) return errno_value(env, EINVAL);
  double* f = fields;
  size_t at = 0;
  for (uint32_t i = 0; i < count; i++, f += STAT_FIELDS) {
    const char* name = next_name(names, names_length, &at);
    if (name == NULL) return errno_value(env, EINVAL);
    struct stat st;
    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      f[STAT_ERRNO] = errno;
      continue;
    }
    f[STAT_ERRNO] = 0;
    f[STAT_MODE] = st.st_mode;
    f[STAT_UID] = st.st_uid;
    f[STAT_GID] = st.st_gid;
    f[STAT_SIZE] = (double)st.st_size;
    f[STAT_MTIME_SEC] = (double)st.st_mtim.tv_sec;
    f[STAT_MTIME_NSEC] = (double)st.st_mtim.tv_nsec;
  }
  return errno_value(env, 0);
}

static napi_value rename_all(napi_env env, napi_callback_info info) {
  int32_t dir_fd;
  uint32_t count;
  void *names, *errnos;
  size_t names_length;
  if (!list_args(env, info, napi_int32_array, 1, &dir_fd, &names, &names_length, &count, &errnos)) return errno_value(env, EINVAL);
  /* every pair checked before the first rename: a malformed list renames nothing */
  size_t at = 0;
  for (size_t i = 0; i < (size_t)2 * count; i++) {
    if (next_name(names, names_length, &at) == NULL) return errno_value(env, EINVAL);
  }
  at = 0;
  int32_t* e = errnos;
  for (uint32_t i = 0; i < count; i++) {
    const char* from = next_name(names, names_length, &at);
    const char* to = next_name(names, names_length, &at);
    e[i] = renameat(dir_fd, from, dir_fd, to) == 0 ? 0 : errno;
  }
  return errno_value(env, 0);
}

void makuo_stage_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"createFile", NULL, create_file, NULL, NULL, NULL, napi_default, NULL},
    {"renameAt", NULL, rename_at, NULL, NULL, NULL, napi_default, NULL},
    {"statNames", NULL, stat_names, NULL, NULL, NULL, napi_default, NULL},
    {"renameAll", NULL, rename_all, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
