/*
 * makuo's batched UDP I/O for Linux, against Node-API. It owns a non-blocking UDP socket; JavaScript asks it
 * to receive a batch (recvmmsg, with UDP_GRO where the kernel coalesces) and to send a run of datagrams laid out
 * back to back (equal-sized ones, or a list of lengths) with one sendmmsg per 64 messages, each message a group of
 * datagrams of one length cut by the kernel at UDP_SEGMENT (up to 64 KiB) where GSO works, else one datagram. Readiness comes
 * from a libuv poll handle on the daemon's own event loop: one wake-up per batch, never a thread. With
 * SO_RXQ_OVFL, each received datagram brings the kernel's count of datagrams this socket dropped (mostly because
 * its receive buffer was full); the latest is kept here for JavaScript to read when it likes (`drops`).
 *
 * Every call returns a count or a negative errno instead of throwing, so the JavaScript side turns failures
 * into typed errors; only argument mistakes (programming errors) throw.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

/* The kernel's UDP_MAX_SEGMENTS is 64 on older kernels (128 since 6.9): stay within the smaller one. */
#define MAX_GSO_SEGMENTS 64
#define MAX_UDP_PAYLOAD 65507
#define MAX_BATCH 64
/* Entries per received datagram in the metadata array: length, source address, source port, GRO segment, flags. */
#define META 5

typedef struct {
  int fd;
  int gso;          /* 1 while UDP_SEGMENT works on this socket; a refusal falls back to sendmmsg for good */
  /* the kernel's drop count as of the last datagram received (a u32 that wraps); -1 when it does not report it */
  int64_t drops;
  int closing;
  /* the struct has three owners, the JavaScript handle and libuv's poll and timer handles: freed when all are done */
  int finalized;
  int uv_open; /* libuv handles not closed yet */
  napi_env env;
  uv_poll_t poll;
  /* `hold`: readable readiness is not polled until this timer fires */
  uv_timer_t hold;
  int held;
  int events; /* what JavaScript asked to be woken by (`poll`); while held, libuv polls it without UV_READABLE */
  int polled; /* what libuv polls now: a change costs epoll_ctl calls, so only a change is made */
  napi_ref callback;
  napi_async_context context;
} Sock;

#define CHECK(call)                                                                                 \
  do {                                                                                              \
    if ((call) != napi_ok) {                                                                        \
      napi_throw_error(env, NULL, "makuo_udp: " #call " failed");                                   \
      return NULL;                                                                                  \
    }                                                                                               \
  } while (0)

static napi_value num(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

static int arg_u32(napi_env env, napi_value v, uint32_t* out) { return napi_get_value_uint32(env, v, out) == napi_ok; }

static Sock* arg_sock(napi_env env, napi_value v) {
  void* data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "makuo_udp: expected a socket handle");
    return NULL;
  }
  Sock* s = data;
  if (s->closing) {
    napi_throw_error(env, NULL, "makuo_udp: socket is closed");
    return NULL;
  }
  return s;
}

/* The arguments of a call on a socket handle (argv[0]); NULL, with an exception pending, when they are not. */
static Sock* sock_args(napi_env env, napi_callback_info info, size_t want, napi_value* argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "makuo_udp: too few arguments");
    return NULL;
  }
  return arg_sock(env, argv[0]);
}

/* A socket and the `n` (at most 4) whole numbers after it; NULL, with a TypeError saying `usage`, when one is not. */
static Sock* sock_u32s(napi_env env, napi_callback_info info, size_t n, uint32_t* out, const char* usage) {
  napi_value argv[5];
  Sock* s = sock_args(env, info, n + 1, argv);
  if (s == NULL) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (!arg_u32(env, argv[i + 1], &out[i])) {
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
  }
  return s;
}

static void on_closed(uv_handle_t* h) {
  Sock* s = h->data;
  s->uv_open--;
  if (s->finalized && s->uv_open == 0) free(s);
}

static void release(Sock* s) {
  if (s->closing) return;
  s->closing = 1;
  if (s->callback != NULL) napi_delete_reference(s->env, s->callback);
  if (s->context != NULL) napi_async_destroy(s->env, s->context);
  s->callback = NULL;
  s->context = NULL;
  /* uv_close stops polling at once (libuv wants that before the descriptor closes); it calls on_closed later */
  s->poll.data = s;
  uv_close((uv_handle_t*)&s->poll, on_closed);
  uv_close((uv_handle_t*)&s->hold, on_closed);
  close(s->fd);
}

static void finalize(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  Sock* s = data;
  s->finalized = 1;
  release(s);
  if (s->uv_open == 0) free(s);
}

/* Calls JavaScript's onEvent(readable, writable). */
static void wake(Sock* s, int readable, int writable) {
  if (s->closing || s->callback == NULL) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, argv[2], result;
  napi_get_reference_value(env, s->callback, &fn);
  napi_get_global(env, &recv);
  napi_get_boolean(env, readable, &argv[0]);
  napi_get_boolean(env, writable, &argv[1]);
  /* make_callback, not call_function: Node runs the microtasks and nextTicks this callback queued, as for any I/O */
  if (napi_make_callback(env, s->context, recv, fn, 2, argv, &result) == napi_pending_exception) {
    /* a throwing handler is a bug: report it as Node reports any uncaught exception of an I/O callback */
    napi_value error;
    napi_get_and_clear_last_exception(env, &error);
    napi_fatal_exception(env, error);
  }
  napi_close_handle_scope(env, scope);
}

static void on_poll(uv_poll_t* h, int status, int events) {
  Sock* s = h->data;
  /* an error on the socket wakes both sides: the next recv or send reports it */
  int err = status < 0;
  wake(s, err || (events & UV_READABLE) != 0, err || (events & UV_WRITABLE) != 0);
}

/* Makes libuv poll what JavaScript asked for, less readability while held. */
static int apply_events(Sock* s) {
  int events = s->held ? s->events & ~UV_READABLE : s->events;
  if (events == s->polled) return 0;
  s->polled = events;
  return events == 0 ? uv_poll_stop(&s->poll) : uv_poll_start(&s->poll, events, on_poll);
}

/*
 * A hold ends: what arrived meanwhile is read now (no epoll round first), then readability is polled again —
 * unless that read held the socket once more (a steady slow stream): then libuv's polling is left as it is.
 */
static void on_hold_end(uv_timer_t* t) {
  Sock* s = t->data;
  if (s->closing) return;
  s->held = 0;
  if (s->events & UV_READABLE) wake(s, 1, 0);
  if (!s->closing) apply_events(s);
}

/* open(address: u32 host order, port, reuseAddr, recvBuffer, sendBuffer, onEvent) → handle | -errno */
static napi_value sock_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t address, port, reuse, rcvbuf, sndbuf;
  if (argc < 6 || !arg_u32(env, argv[0], &address) || !arg_u32(env, argv[1], &port) || !arg_u32(env, argv[2], &reuse) ||
      !arg_u32(env, argv[3], &rcvbuf) || !arg_u32(env, argv[4], &sndbuf)) {
    napi_throw_type_error(env, NULL, "makuo_udp.open(address, port, reuseAddr, recvBuffer, sendBuffer, onEvent)");
    return NULL;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return num(env, -errno);
  int one = 1;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) goto fail;
  /* 0 = the system default; the kernel caps a size at net.core.[rw]mem_max, as node:dgram's would be */
  int size = (int)rcvbuf;
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) goto fail;
  size = (int)sndbuf;
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) < 0) goto fail;
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)port);
  sa.sin_addr.s_addr = htonl(address);
  if (bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0) goto fail;
  /* a kernel without it leaves the count unknown, which is no reason to refuse the socket */
  int64_t drops = -1;
#ifdef SO_RXQ_OVFL
  if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) == 0) drops = 0;
#endif

  Sock* s = calloc(1, sizeof(Sock));
  if (s == NULL) {
    close(fd);
    return num(env, -ENOMEM);
  }
  s->fd = fd;
  s->gso = 1;
  s->drops = drops;
  s->env = env;
  uv_loop_t* loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  if (uv_poll_init(loop, &s->poll, fd) != 0) {
    close(fd);
    free(s);
    return num(env, -EINVAL);
  }
  uv_timer_init(loop, &s->hold); /* cannot fail */
  s->uv_open = 2;
  s->poll.data = s;
  s->hold.data = s;
  CHECK(napi_create_reference(env, argv[5], 1, &s->callback));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "makuo_udp", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &s->context));
  napi_value handle;
  CHECK(napi_create_external(env, s, finalize, NULL, &handle));
  return handle;
fail : {
  int e = errno;
  close(fd);
  return num(env, -e);
}
}

/* setInt(handle, level, name, value) → 0 | -errno, for the handful of integer options the transport sets */
static napi_value sock_set_int(napi_env env, napi_callback_info info) {
  uint32_t a[3];
  Sock* s = sock_u32s(env, info, 3, a, "makuo_udp.setInt(handle, level, name, value)");
  if (s == NULL) return NULL;
  uint32_t level = a[0], name = a[1], value = a[2];
  int v = (int)value;
  if (level == IPPROTO_IP && (name == IP_MULTICAST_TTL || name == IP_MULTICAST_LOOP)) {
    unsigned char c = (unsigned char)value;
    return num(env, setsockopt(s->fd, IPPROTO_IP, name, &c, sizeof c) < 0 ? -errno : 0);
  }
  return num(env, setsockopt(s->fd, (int)level, (int)name, &v, sizeof v) < 0 ? -errno : 0);
}

/* getInt(handle, level, name) → value | -errno */
static napi_value sock_get_int(napi_env env, napi_callback_info info) {
  uint32_t a[2];
  Sock* s = sock_u32s(env, info, 2, a, "makuo_udp.getInt(handle, level, name)");
  if (s == NULL) return NULL;
  uint32_t level = a[0], name = a[1];
  int v = 0;
  socklen_t len = sizeof v;
  return num(env, getsockopt(s->fd, (int)level, (int)name, &v, &len) < 0 ? -errno : v);
}

/* multicastInterface(handle, interface u32) → 0 | -errno */
static napi_value sock_mcast_if(napi_env env, napi_callback_info info) {
  uint32_t iface;
  Sock* s = sock_u32s(env, info, 1, &iface, "makuo_udp.multicastInterface(handle, interface)");
  if (s == NULL) return NULL;
  struct in_addr a = {.s_addr = htonl(iface)};
  return num(env, setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_IF, &a, sizeof a) < 0 ? -errno : 0);
}

/* join(handle, group u32, interface u32 (0 = the kernel's choice)) → 0 | -errno */
static napi_value sock_join(napi_env env, napi_callback_info info) {
  uint32_t a[2];
  Sock* s = sock_u32s(env, info, 2, a, "makuo_udp.join(handle, group, interface)");
  if (s == NULL) return NULL;
  uint32_t group = a[0], iface = a[1];
  struct ip_mreq m = {.imr_multiaddr = {.s_addr = htonl(group)}, .imr_interface = {.s_addr = htonl(iface)}};
  return num(env, setsockopt(s->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0 ? -errno : 0);
}

/* poll(handle, readable, writable) → 0 | -errno: which readiness wakes the onEvent callback */
static napi_value sock_poll(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  Sock* s = sock_args(env, info, 3, argv);
  if (s == NULL) return NULL;
  bool r = false, w = false;
  if (napi_get_value_bool(env, argv[1], &r) != napi_ok || napi_get_value_bool(env, argv[2], &w) != napi_ok) {
    napi_throw_type_error(env, NULL, "makuo_udp.poll(handle, readable, writable)");
    return NULL;
  }
  int events = (r ? UV_READABLE : 0) | (w ? UV_WRITABLE : 0);
  if (events == s->events) return num(env, 0);
  s->events = events;
  return num(env, apply_events(s));
}

/*
 * hold(handle, ms) → 0: readability is not polled for `ms` milliseconds (writability still is); then what arrived
 * is read at once (onEvent(true, false)). A stream at a slow link's pace otherwise wakes the daemon for every
 * datagram or two, and each wake-up's fixed cost (epoll, recvmmsg, the JavaScript batch's work) dominates; the
 * caller says when (NativeTransport: after a wake-up that read little) and for how long.
 */
static napi_value sock_hold(napi_env env, napi_callback_info info) {
  uint32_t ms;
  Sock* s = sock_u32s(env, info, 1, &ms, "makuo_udp.hold(handle, ms)");
  if (s == NULL) return NULL;
  if (s->held) return num(env, 0);
  s->held = 1;
  int rc = apply_events(s);
  uv_timer_start(&s->hold, on_hold_end, ms, 0);
  return num(env, rc);
}

/*
 * recv(handle, buffer, slotSize, meta: Uint32Array) → datagrams received (0 when none wait) | -errno.
 * Datagram i lands at buffer[i * slotSize]; meta[i*5 ..] = length, source address, source port, GRO segment size
 * (0 when the kernel did not coalesce), 1 when it was cut to slotSize. The kernel's drop count, which a
 * datagram brings once it is above zero, is kept for `drops`.
 */
static napi_value sock_recv(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  Sock* s = sock_args(env, info, 4, argv);
  if (s == NULL) return NULL;
  void* buf;
  size_t buflen;
  uint32_t slot;
  napi_typedarray_type type;
  size_t metalen;
  void* meta;
  if (napi_get_buffer_info(env, argv[1], &buf, &buflen) != napi_ok || !arg_u32(env, argv[2], &slot) || slot == 0 ||
      napi_get_typedarray_info(env, argv[3], &type, &metalen, &meta, NULL, NULL) != napi_ok || type != napi_uint32_array) {
    napi_throw_type_error(env, NULL, "makuo_udp.recv(handle, buffer, slotSize, meta)");
    return NULL;
  }
  size_t n = buflen / slot;
  if (n > metalen / META) n = metalen / META;
  if (n > MAX_BATCH) n = MAX_BATCH;
  if (n == 0) return num(env, 0);
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct sockaddr_in from[MAX_BATCH];
  /* room for the two messages we ask for: the GRO segment size and the drop count (32 bytes a datagram) */
  union {
    char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(uint32_t))];
    struct cmsghdr align;
  } control[MAX_BATCH];
  memset(msgs, 0, sizeof(msgs[0]) * n);
  for (size_t i = 0; i < n; i++) {
    iov[i].iov_base = (char*)buf + i * slot;
    iov[i].iov_len = slot;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
    msgs[i].msg_hdr.msg_control = control[i].buf;
    msgs[i].msg_hdr.msg_controllen = sizeof control[i].buf;
  }
  int got = recvmmsg(s->fd, msgs, (unsigned)n, MSG_DONTWAIT, NULL);
  if (got < 0) return num(env, errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno);
  uint32_t* m = meta;
  for (int i = 0; i < got; i++) {
    uint32_t gro = 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c != NULL; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c)) {
      if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
        int size;
        memcpy(&size, CMSG_DATA(c), sizeof size);
        gro = (uint32_t)size;
      }
#ifdef SO_RXQ_OVFL
      /* the count when this datagram was queued: the batch's last one that brings it is the newest */
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
        uint32_t dropped;
        memcpy(&dropped, CMSG_DATA(c), sizeof dropped);
        s->drops = dropped;
      }
#endif
    }
    m[i * META + 0] = msgs[i].msg_len;
    m[i * META + 1] = ntohl(from[i].sin_addr.s_addr);
    m[i * META + 2] = ntohs(from[i].sin_port);
    m[i * META + 3] = gro;
    m[i * META + 4] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
  }
  return num(env, got);
}

/*
 * Datagrams laid out back to back from `p`, `bytes` in all: `lengths[i]` bytes the i-th of `count`, or, without
 * lengths, `segment` bytes each but the last (which may be shorter).
 */
typedef struct {
  char* p;
  size_t bytes;
  size_t count;
  uint32_t segment;
  const uint32_t* lengths;
} Run;

/* The length of the run's i-th datagram, which starts `off` bytes in. */
static size_t run_length(const Run* r, size_t i, size_t off) {
  if (r->lengths != NULL) return r->lengths[i];
  return r->bytes - off < r->segment ? r->bytes - off : r->segment;
}

/*
 * One sendmmsg of the run's datagrams from the i-th (`off` bytes in), up to MAX_BATCH messages pointing into the run.
 * With GSO, a message carries a group of datagrams the kernel cuts at UDP_SEGMENT: consecutive ones of one length,
 * the last of the group maybe shorter (up to MAX_GSO_SEGMENTS of them, MAX_UDP_PAYLOAD bytes) — a DATA burst's
 * datagrams make one or two groups, a bundle stream's full blocks a group per run of them; without, a message per
 * datagram. The messages sent (the kernel may take fewer than asked) or -1 (errno set); `*bytes` and `*datagrams`
 * get what they carried, `*grouped` whether the first message was a group (the one whose refusal means no GSO).
 */
static int send_msgs(Sock* s, struct sockaddr_in* to, const Run* r, size_t i, size_t off, size_t* bytes, size_t* datagrams, int* grouped) {
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } control[MAX_BATCH];
  size_t counts[MAX_BATCH];
  size_t n = 0;
  memset(msgs, 0, sizeof msgs);
  for (; i < r->count && n < MAX_BATCH; n++) {
    size_t first = run_length(r, i, off), len = first, k = 1;
    /* an empty datagram is one alone: a group's length is what tells the kernel its segments */
    while (s->gso && first > 0 && i + k < r->count && k < MAX_GSO_SEGMENTS) {
      size_t next = run_length(r, i + k, off + len);
      if (next == 0 || next > first || len + next > MAX_UDP_PAYLOAD) break;
      len += next;
      k++;
      if (next < first) break;
    }
    iov[n].iov_base = r->p + off;
    iov[n].iov_len = len;
    msgs[n].msg_hdr.msg_name = to;
    msgs[n].msg_hdr.msg_namelen = sizeof *to;
    msgs[n].msg_hdr.msg_iov = &iov[n];
    msgs[n].msg_hdr.msg_iovlen = 1;
    if (k > 1) {
      msgs[n].msg_hdr.msg_control = control[n].buf;
      msgs[n].msg_hdr.msg_controllen = sizeof control[n].buf;
      struct cmsghdr* c = CMSG_FIRSTHDR(&msgs[n].msg_hdr);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = (uint16_t)first;
      memcpy(CMSG_DATA(c), &seg, sizeof seg);
    }
    counts[n] = k;
    i += k;
    off += len;
  }
  *grouped = counts[0] > 1;
  int sent = sendmmsg(s->fd, msgs, (unsigned)n, MSG_DONTWAIT);
  *bytes = 0;
  *datagrams = 0;
  for (int m = 0; m < sent; m++) *bytes += iov[m].iov_len, *datagrams += counts[m];
  return sent;
}

/*
 * Sends the run to `to`, in as few system calls as the kernel allows: one sendmmsg per MAX_BATCH messages, each a
 * GSO group where GSO works (a ~64 KiB DATA burst: one call), else each one datagram. The bytes handed to the
 * kernel (fewer than the run when the socket buffer is full: the caller waits for writable and sends the rest),
 * or -errno when nothing went.
 */
static ssize_t send_run(Sock* s, struct sockaddr_in* to, const Run* r) {
  size_t done = 0, i = 0;
  while (i < r->count) {
    size_t bytes, datagrams;
    int grouped;
    int sent = send_msgs(s, to, r, i, done, &bytes, &datagrams, &grouped);
    /* a kernel or device that cannot segment says so at once: from now on one datagram per message */
    if (sent < 0 && grouped && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
      s->gso = 0;
      continue;
    }
    if (sent < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || done > 0) break;
      return -errno;
    }
    if (sent == 0) break;
    done += bytes;
    i += datagrams;
  }
  return (ssize_t)done;
}

/* The destination and the buffer of a send (argv[1..3]); 0, with an exception pending, when they are not. */
static int send_args(napi_env env, napi_value* argv, struct sockaddr_in* to, char** buf, size_t* buflen) {
  uint32_t address, port;
  void* data;
  if (!arg_u32(env, argv[1], &address) || !arg_u32(env, argv[2], &port) || napi_get_buffer_info(env, argv[3], &data, buflen) != napi_ok) return 0;
  memset(to, 0, sizeof *to);
  to->sin_family = AF_INET;
  to->sin_port = htons((uint16_t)port);
  to->sin_addr.s_addr = htonl(address);
  *buf = data;
  return 1;
}

/*
 * send(handle, address u32, port, buffer, offset, length, segment) → bytes handed to the kernel | -errno.
 * The bytes are datagrams of `segment` bytes back to back, the last one possibly shorter (segment 0: one
 * datagram). Fewer bytes than asked means the socket buffer is full: wait for writable and send the rest.
 */
static napi_value sock_send(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  Sock* s = sock_args(env, info, 7, argv);
  if (s == NULL) return NULL;
  struct sockaddr_in to;
  char* buf;
  size_t buflen;
  uint32_t offset, length, segment;
  if (!send_args(env, argv, &to, &buf, &buflen) || !arg_u32(env, argv[4], &offset) || !arg_u32(env, argv[5], &length) ||
      !arg_u32(env, argv[6], &segment) || (size_t)offset + length > buflen) {
    napi_throw_type_error(env, NULL, "makuo_udp.send(handle, address, port, buffer, offset, length, segment)");
    return NULL;
  }
  if (segment == 0 || segment > length) segment = length;
  if (segment > MAX_UDP_PAYLOAD) return num(env, -EMSGSIZE);
  /* an empty datagram is one datagram too */
  Run r = {.p = buf + offset, .bytes = length, .count = segment == 0 ? 1 : ((size_t)length + segment - 1) / segment, .segment = segment};
  return num(env, (double)send_run(s, &to, &r));
}

/*
 * sendEach(handle, address u32, port, buffer, offset, lengths: Uint32Array, first) → bytes handed to the kernel |
 * -errno. The bytes from `offset` are datagrams back to back, lengths[first], lengths[first + 1], ... bytes long
 * (unequal lengths: one sendmmsg per MAX_BATCH of them). Fewer bytes than asked means the socket buffer is full:
 * wait for writable and send the rest (from the first datagram not sent, at the offset after the bytes sent).
 */
static napi_value sock_send_each(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  Sock* s = sock_args(env, info, 7, argv);
  if (s == NULL) return NULL;
  struct sockaddr_in to;
  char* buf;
  size_t buflen;
  uint32_t offset, first;
  napi_typedarray_type type;
  size_t count;
  void* lengths;
  if (!send_args(env, argv, &to, &buf, &buflen) || !arg_u32(env, argv[4], &offset) ||
      napi_get_typedarray_info(env, argv[5], &type, &count, &lengths, NULL, NULL) != napi_ok || type != napi_uint32_array ||
      !arg_u32(env, argv[6], &first) || first > count) {
    napi_throw_type_error(env, NULL, "makuo_udp.sendEach(handle, address, port, buffer, offset, lengths, first)");
    return NULL;
  }
  Run r = {.p = buf + offset, .count = count - first, .lengths = (const uint32_t*)lengths + first};
  int too_long = 0, past = (size_t)offset > buflen;
  /* checked as it adds up, so that no sum can wrap past the check */
  for (size_t i = 0; i < r.count && !past; i++) {
    r.bytes += r.lengths[i];
    too_long |= r.lengths[i] > MAX_UDP_PAYLOAD;
    past = r.bytes > buflen - offset;
  }
  if (past) {
    napi_throw_range_error(env, NULL, "makuo_udp.sendEach: the lengths run past the buffer");
    return NULL;
  }
  if (too_long) return num(env, -EMSGSIZE);
  return num(env, (double)send_run(s, &to, &r));
}

/* noGso(handle): sends one datagram per message (sendmmsg) from now on, as after a kernel's refusal */
static napi_value sock_no_gso(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Sock* s = sock_args(env, info, 1, argv);
  if (s == NULL) return NULL;
  s->gso = 0;
  return NULL;
}

/* gso(handle) → whether sends still use UDP_SEGMENT */
static napi_value sock_gso(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Sock* s = sock_args(env, info, 1, argv);
  if (s == NULL) return NULL;
  napi_value v;
  napi_get_boolean(env, s->gso != 0, &v);
  return v;
}

/*
 * drops(handle) → the kernel's count of datagrams this socket dropped, as of the last one received (drops after
 * it show with the next arrival; the count wraps at 2^32), or -1 when the kernel does not report it. No system call.
 */
static napi_value sock_drops(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Sock* s = sock_args(env, info, 1, argv);
  if (s == NULL) return NULL;
  return num(env, (double)s->drops);
}

/* close(handle): stops polling and closes the socket; later calls on the handle throw */
static napi_value sock_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void* data = NULL;
  if (argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "makuo_udp.close(handle)");
    return NULL;
  }
  release((Sock*)data);
  return NULL;
}

/* native/makuo_aead.c: AES-256-GCM over batches of native-mode frames */
void makuo_aead_init(napi_env env, napi_value exports);
/* native/makuo_stage.c: a staged small file's temp made in one call */
void makuo_stage_init(napi_env env, napi_value exports);
/* native/makuo_fs.c: the sender's scan lists a directory per call */
void makuo_fs_init(napi_env env, napi_value exports);
/* native/makuo_mem.c: the C heap's arenas limited, trim */
void makuo_mem_init(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"open", NULL, sock_open, NULL, NULL, NULL, napi_default, NULL},
    {"setInt", NULL, sock_set_int, NULL, NULL, NULL, napi_default, NULL},
    {"getInt", NULL, sock_get_int, NULL, NULL, NULL, napi_default, NULL},
    {"multicastInterface", NULL, sock_mcast_if, NULL, NULL, NULL, napi_default, NULL},
    {"join", NULL, sock_join, NULL, NULL, NULL, napi_default, NULL},
    {"poll", NULL, sock_poll, NULL, NULL, NULL, napi_default, NULL},
    {"hold", NULL, sock_hold, NULL, NULL, NULL, napi_default, NULL},
    {"recv", NULL, sock_recv, NULL, NULL, NULL, napi_default, NULL},
    {"send", NULL, sock_send, NULL, NULL, NULL, napi_default, NULL},
    {"sendEach", NULL, sock_send_each, NULL, NULL, NULL, napi_default, NULL},
    {"gso", NULL, sock_gso, NULL, NULL, NULL, napi_default, NULL},
    {"noGso", NULL, sock_no_gso, NULL, NULL, NULL, napi_default, NULL},
    {"drops", NULL, sock_drops, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, sock_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value constants;
  napi_create_object(env, &constants);
  struct {
    const char* name;
    int value;
  } c[] = {{"SOL_SOCKET", SOL_SOCKET}, {"IPPROTO_IP", IPPROTO_IP}, {"SOL_UDP", SOL_UDP}, {"SO_RCVBUF", SO_RCVBUF},
           {"SO_SNDBUF", SO_SNDBUF}, {"IP_MULTICAST_TTL", IP_MULTICAST_TTL}, {"IP_MULTICAST_LOOP", IP_MULTICAST_LOOP},
           {"UDP_GRO", UDP_GRO}};
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) napi_set_named_property(env, constants, c[i].name, num(env, c[i].value));
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_set_named_property(env, exports, "constants", constants);
  makuo_aead_init(env, exports);
  makuo_stage_init(env, exports);
  makuo_fs_init(env, exports);
  makuo_mem_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
