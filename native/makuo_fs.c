/*
 * makuo's directory listing for the sender's scan: one call per directory reads its entries and lstat's each
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

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static int typed_arg(napi_env env, napi_value v, napi_typedarray_type want, void** data, size_t* length) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) == napi_ok && type == want;
}

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

void makuo_fs_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"listDir", NULL, fs_list_dir, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
