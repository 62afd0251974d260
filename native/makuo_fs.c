/*
 * The sender's file-system calls, a directory or a burst of small files per call (readFiles, below). The directory listing for the sender's scan: one call per directory reads its entries and lstat's each
 * through the directory's descriptor (fstatat with AT_SYMLINK_NOFOLLOW: nothing is followed, no path is resolved
 * from the root), the target of each symlink too, into buffers the caller reuses. Node's own calls cost a Stats
 * object (with its Date objects) and a path per entry; a tree of small files spent most of the scan there.
 *
 * listDir(dirFd, bytes: Uint8Array, fields: Float64Array) -> entries listed, or -errno; -ENOBUFS when the buffers
 * are too small (the caller grows them and lists again). Names go to the front of `bytes`, each followed by a '/'
 * (which no name holds); link targets go to its back. Per entry, FIELDS numbers in `fields` (the order of the
 * FIELD_ constants below, mirrored by src/store/listing.ts). An entry gone between the listing and its lstat is
 * left out; any other failure fails the listing, as Node's calls would.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "makuo_args.h"

enum {
  FIELD_MODE,
  FIELD_UID,
  FIELD_GID,
  FIELD_SIZE,
  FIELD_MTIME_SEC,
  FIELD_MTIME_NSEC,
  FIELD_CTIME_SEC,
  FIELD_CTIME_NSEC,
  FIELD_RDEV,
  FIELD_DEV,
  FIELD_INO,
  /* where the entry's link target starts in `bytes`, and its length (0 for anything but a symlink) */
  FIELD_LINK_AT,
  FIELD_LINK_LENGTH,
  /* where the entry's name ends in `bytes` (its '/' follows) */
  FIELD_NAME_END,
  FIELDS
};

static void fill(double* f, const struct stat* st) {
  f[FIELD_MODE] = st->st_mode;
  f[FIELD_UID] = st->st_uid;
  f[FIELD_GID] = st->st_gid;
  f[FIELD_SIZE] = (double)st->st_size;
  f[FIELD_MTIME_SEC] = (double)st->st_mtim.tv_sec;
  f[FIELD_MTIME_NSEC] = (double)st->st_mtim.tv_nsec;
  f[FIELD_CTIME_SEC] = (double)st->st_ctim.tv_sec;
  f[FIELD_CTIME_NSEC] = (double)st->st_ctim.tv_nsec;
  f[FIELD_RDEV] = (double)st->st_rdev;
  f[FIELD_DEV] = (double)st->st_dev;
  f[FIELD_INO] = (double)st->st_ino;
}

/* Lists the directory open as `dir_fd` into the buffers; the entries listed, or -errno. */
static int64_t list_dir(int dir_fd, uint8_t* bytes, size_t room, double* fields, size_t field_room) {
  /* a descriptor of its own: the caller's keeps its offset, and "." is looked up as Node's listing looks it up */
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  DIR* dir = fdopendir(fd);
  if (dir == NULL) {
    int e = errno;
    close(fd);
    return -e;
  }
  size_t front = 0, back = room, count = 0;
  int64_t rc = 0;
  for (;;) {
    errno = 0;
    struct dirent* d = readdir(dir);
    if (d == NULL) {
      if (errno != 0) rc = -errno;
      break;
    }
    const char* name = d->d_name;
    if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
    size_t length = strlen(name);
    if ((count + 1) * FIELDS > field_room || front + length + 1 > back) {
      rc = -ENOBUFS;
      break;
    }
    struct stat st;
    if (fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      rc = -errno;
      break;
    }
    double* f = fields + count * FIELDS;
    f[FIELD_LINK_AT] = 0;
    f[FIELD_LINK_LENGTH] = 0;
    if (S_ISLNK(st.st_mode)) {
      size_t space = back - (front + length + 1);
      /* a target as long as the space may have been cut: room for more is asked for */
      ssize_t n = space == 0 ? 0 : readlinkat(dirfd(dir), name, (char*)bytes + front + length + 1, space);
      if (n < 0) {
        rc = -errno;
        break;
      }
      if ((size_t)n >= space) {
        rc = -ENOBUFS;
        break;
      }
      back -= n;
      memmove(bytes + back, bytes + front + length + 1, n);
      f[FIELD_LINK_AT] = (double)back;
      f[FIELD_LINK_LENGTH] = (double)n;
    }
    memcpy(bytes + front, name, length);
    bytes[front + length] = '/';
    f[FIELD_NAME_END] = (double)(front + length);
    front += length + 1;
    fill(f, &st);
    count++;
  }
  closedir(dir);
  return rc < 0 ? rc : (int64_t)count;
}

static napi_value fs_list_dir(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t dir_fd;
  void *bytes, *fields;
  size_t room, field_room;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3 || napi_get_value_int32(env, argv[0], &dir_fd) != napi_ok ||
      !typed_arg(env, argv[1], napi_uint8_array, &bytes, &room) || !typed_arg(env, argv[2], napi_float64_array, &fields, &field_room)) {
    napi_throw_type_error(env, NULL, "makuo_fs.listDir(dirFd, bytes: Uint8Array, fields: Float64Array)");
    return NULL;
  }
  napi_value v;
  napi_create_int64(env, list_dir(dir_fd, bytes, room, fields, field_room), &v);
  return v;
}

/*
 * readFiles(paths: Uint8Array, files: Float64Array, into: Uint8Array, digests: Uint8Array, scanned: BigInt64Array) -> files read
 *
 * The sender's small files of one burst in one call (src/store/wholeFiles.ts): each opened by its path (no symlink
 * followed at its end, never blocking; by its name in its directory, kept open for the next file in the same one), refused unless it is a regular file and the inode the scan saw, read whole
 * (the size the scan saw) into `into`, its version taken again after the read (what the caller checks against the
 * scan's: a file changed since is never sent), its SHA-256 into `digests` when asked, closed. Node's calls cost a
 * path string, a Stats object with its dates per fstat, and a call per step; a tree of small files spent most of
 * the sender's time there. Per file, RF_FIELDS numbers in `files`: RF_PATH_AT to RF_HASH are the caller's (a
 * path is NUL-terminated in `paths`), RF_RESULT on are written here: the bytes read, or -errno and the step that
 * failed (RF_STEP: 0 open, 1 fstat, 2 read; -ENOTSUP not a regular file, -ESTALE not the scanned inode). A failure
 * is the file's own: the next files are read all the same. `scanned` holds each file's mtime and ctime in nanoseconds as
 * the scan saw them (two per file): RF_SAME says whether the version after the read is the scan's (its size RF_SIZE),
 * so that the caller builds no version of its own for the file that did not change (most of them).
 */
enum {
  RF_PATH_AT,
  RF_DEV,
  RF_INO,
  RF_SIZE,
  RF_INTO_AT,
  /* 1: its SHA-256 goes to digests[32 * i] */
  RF_HASH,
  RF_RESULT,
  RF_STEP,
  /* the version after the read */
  RF_AFTER_SIZE,
  RF_AFTER_MTIME_SEC,
  RF_AFTER_MTIME_NSEC,
  RF_AFTER_CTIME_SEC,
  RF_AFTER_CTIME_NSEC,
  /* what it is, when it is not a regular file */
  RF_MODE,
  /* 1: the version after the read is the scan's (size, mtime and ctime to the nanosecond) */
  RF_SAME,
  RF_FIELDS
};

#define SHA256_BYTES 32

/*
 * The directory of the files being read, kept open while the next file's path names the same one: each file is
 * opened by its name in it (the kernel walks one component, not the whole path per file; a burst of small files
 * lies in a few directories). Opened as the whole path's open would resolve it (symlinks in the directory's path
 * followed, as they were): the file itself is checked all the same (O_NOFOLLOW, its inode against the scan's).
 */
struct dir_cache {
  int fd;
  size_t length;
  char path[PATH_MAX];
};

/* A descriptor of the directory `path` (its first `length` bytes), or -1 when it cannot be opened (errno set). */
static int dir_of(struct dir_cache* dir, const char* path, size_t length) {
  if (dir->fd >= 0 && dir->length == length && memcmp(dir->path, path, length) == 0) return dir->fd;
  if (dir->fd >= 0) close(dir->fd);
  dir->fd = -1;
  if (length >= sizeof dir->path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(dir->path, path, length);
  dir->path[length] = 0;
  dir->fd = open(dir->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  dir->length = length;
  return dir->fd;
}

static int open_file(struct dir_cache* dir, const char* path) {
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;
  const char* slash = strrchr(path, '/');
  /* a path without a directory, or its directory too long to keep: opened whole */
  if (slash == NULL || slash == path || (size_t)(slash - path) >= sizeof dir->path) return open(path, flags);
  int dir_fd = dir_of(dir, path, (size_t)(slash - path));
  return dir_fd < 0 ? -1 : openat(dir_fd, slash + 1, flags);
}

/* Whether the time `t` is `ns` nanoseconds since the epoch (a time beyond int64 nanoseconds is said not to be). */
static int same_ns(const struct timespec* t, int64_t ns) {
  int64_t at;
  return !__builtin_mul_overflow((int64_t)t->tv_sec, (int64_t)1000000000, &at) && !__builtin_add_overflow(at, (int64_t)t->tv_nsec, &at) && at == ns;
}

static void read_file(struct dir_cache* dir, const char* path, double* f, const int64_t* scanned, uint8_t* into, uint8_t* digest) {
  int fd = open_file(dir, path);
  f[RF_STEP] = 0;
  if (fd < 0) {
    f[RF_RESULT] = -errno;
    return;
  }
  struct stat st;
  size_t size = (size_t)f[RF_SIZE];
  ssize_t got = 0;
  f[RF_STEP] = 1;
  if (fstat(fd, &st) != 0) {
    got = -errno;
  } else if (!S_ISREG(st.st_mode)) {
    got = -ENOTSUP;
    f[RF_MODE] = st.st_mode;
  } else if ((double)st.st_dev != f[RF_DEV] || (double)st.st_ino != f[RF_INO]) {
    got = -ESTALE;
  } else {
    f[RF_STEP] = 2;
    while ((size_t)got < size) {
      ssize_t n = pread(fd, into + got, size - got, got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        got = -errno;
        break;
      }
      if (n == 0) break;
      got += n;
    }
    if (got >= 0) {
      f[RF_STEP] = 1;
      if (fstat(fd, &st) != 0) got = -errno;
    }
  }
  close(fd);
  f[RF_RESULT] = (double)got;
  if (got < 0) return;
  f[RF_AFTER_SIZE] = (double)st.st_size;
  f[RF_AFTER_MTIME_SEC] = (double)st.st_mtim.tv_sec;
  f[RF_AFTER_MTIME_NSEC] = (double)st.st_mtim.tv_nsec;
  f[RF_AFTER_CTIME_SEC] = (double)st.st_ctim.tv_sec;
  f[RF_AFTER_CTIME_NSEC] = (double)st.st_ctim.tv_nsec;
  f[RF_SAME] = (double)st.st_size == f[RF_SIZE] && same_ns(&st.st_mtim, scanned[0]) && same_ns(&st.st_ctim, scanned[1]);
  if (f[RF_HASH] != 0 && !EVP_Digest(into, (size_t)got, digest, NULL, EVP_sha256(), NULL)) {
    f[RF_RESULT] = -EIO;
    f[RF_STEP] = 2;
  }
}

static napi_value fs_read_files(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  void *paths, *files, *into, *digests, *scanned;
  size_t path_room, file_room, room, digest_room, scanned_room;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 || !typed_arg(env, argv[0], napi_uint8_array, &paths, &path_room) ||
      !typed_arg(env, argv[1], napi_float64_array, &files, &file_room) || !typed_arg(env, argv[2], napi_uint8_array, &into, &room) ||
      !typed_arg(env, argv[3], napi_uint8_array, &digests, &digest_room) || !typed_arg(env, argv[4], napi_bigint64_array, &scanned, &scanned_room)) {
    napi_throw_type_error(env, NULL, "makuo_fs.readFiles(paths: Uint8Array, files: Float64Array, into: Uint8Array, digests: Uint8Array, scanned: BigInt64Array)");
    return NULL;
  }
  size_t count = file_room / RF_FIELDS;
  if (count > digest_room / SHA256_BYTES) count = digest_room / SHA256_BYTES;
  if (count > scanned_room / 2) count = scanned_room / 2;
  size_t done = 0;
  struct dir_cache dir = {.fd = -1};
  for (; done < count; done++) {
    double* f = (double*)files + done * RF_FIELDS;
    double path_at = f[RF_PATH_AT], at = f[RF_INTO_AT], size = f[RF_SIZE];
    /* the caller's numbers kept in bounds: a path within `paths` and NUL-terminated there, contents within `into` */
    if (!(path_at >= 0 && path_at < (double)path_room && at >= 0 && size >= 0 && at + size <= (double)room)) break;
    if (memchr((uint8_t*)paths + (size_t)path_at, 0, path_room - (size_t)path_at) == NULL) break;
    read_file(&dir, (const char*)paths + (size_t)path_at, f, (const int64_t*)scanned + 2 * done, (uint8_t*)into + (size_t)at, (uint8_t*)digests + done * SHA256_BYTES);
  }
  if (dir.fd >= 0) close(dir.fd);
  napi_value v;
  napi_create_int64(env, (int64_t)done, &v);
  return v;
}

void makuo_fs_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"listDir", NULL, fs_list_dir, NULL, NULL, NULL, napi_default, NULL},
    {"readFiles", NULL, fs_read_files, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
