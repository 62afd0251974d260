/*
 * AES-256-GCM over batches of native-mode frames, against the OpenSSL that Node itself links and exports (its
 * headers ship beside node_api.h), so the addon needs no library of its own. A traffic key holds two reused
 * EVP contexts, one to seal and one to open (or only the one its use needs), whose key schedule is set once: each frame only sets a new IV.
 * node:crypto makes a cipher object per datagram instead, which costs several times the encryption itself.
 *
 * Frame layout (src/secure/frame.ts): a 52-byte header (the associated data; bytes 22..29 are the counter that
 * makes the nonce 4 zero bytes + counter; bytes 44..51 the header MAC), the payload, a 16-byte tag. Work
 * happens in place in the caller's slab. Calls return the number of frames handled or -1 when OpenSSL fails;
 * argument mistakes throw.
 *
 * The header MAC (docs/protocol.md, "Header MAC") is HMAC-SHA256 under a key derived once per group key, over
 * every header byte but the counter and the MAC itself, truncated to 8 bytes. A batch's frames differ only in
 * their counters, so sealing computes it once per batch (again only where a frame's header differs from the one
 * before); a receiver checks it only for frames of epochs it has no key for yet (src/secure/receiver.ts).
 */
#include <node_api.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "makuo_args.h"

#define HEADER 52
/* no frame is longer than a UDP payload can be; this also keeps every length below INT_MAX for OpenSSL's ints */
#define MAX_FRAME 65535
#define TAG 16
#define COUNTER_AT 22
#define NONCE 12
#define KEY_BYTES 32
/* the header MAC covers [0, COUNTER_AT) and [COUNTER_AT + 8, MAC_AT), and sits at MAC_AT */
#define MAC_AT 44
#define MAC_BYTES 8
#define SENT_AT (COUNTER_AT + 8)

typedef struct {
  EVP_CIPHER_CTX* seal;
  EVP_CIPHER_CTX* open;
} AeadKey;

/* a group key's header-MAC key: an HMAC-SHA256 context keyed once, reset (same key) per header */
typedef struct {
  EVP_MAC_CTX* mac;
} HeaderKey;

/* mark externals made here, so a socket handle (or any other external, or one kind of key for the other) is never taken for a key */
static const napi_type_tag KEY_TAG = {0x6d616b756f616561ULL, 0x64206b6579207631ULL};
static const napi_type_tag HEADER_KEY_TAG = {0x6d616b756f686561ULL, 0x646572206d616331ULL};

static napi_value fail_type(napi_env env, const char* message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

/* either context may be NULL (a key made for one use); EVP_CIPHER_CTX_free(NULL) does nothing */
static void key_free(napi_env env, void* data, void* hint) {
  AeadKey* k = data;
  EVP_CIPHER_CTX_free(k->seal);
  EVP_CIPHER_CTX_free(k->open);
  free(k);
}

static void* tagged_arg(napi_env env, napi_value v, const napi_type_tag* tag) {
  bool tagged = false;
  void* data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_check_object_type_tag(env, v, tag, &tagged) != napi_ok || !tagged) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

static AeadKey* key_arg(napi_env env, napi_value v) {
  return tagged_arg(env, v, &KEY_TAG);
}

static void header_key_free(napi_env env, void* data, void* hint) {
  HeaderKey* k = data;
  EVP_MAC_CTX_free(k->mac);
  free(k);
}

/* headerKey(secret: 32 bytes) → handle of an HMAC-SHA256 context keyed with it */
static napi_value header_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void* secret;
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      !typed_arg(env, argv[0], napi_uint8_array, &secret, &length) || length != KEY_BYTES)
    return fail_type(env, "makuo_aead.headerKey(secret: 32-byte Uint8Array)");
  HeaderKey* k = calloc(1, sizeof *k);
  if (k == NULL) return fail_type(env, "makuo_aead: out of memory");
  EVP_MAC* hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (hmac != NULL) k->mac = EVP_MAC_CTX_new(hmac);
  EVP_MAC_free(hmac);
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0), OSSL_PARAM_construct_end()};
  if (k->mac == NULL || EVP_MAC_init(k->mac, secret, KEY_BYTES, params) != 1) {
    header_key_free(env, k, NULL);
    napi_throw_error(env, NULL, "makuo_aead: OpenSSL refused an HMAC-SHA256 context");
    return NULL;
  }
  napi_value v;
  if (napi_create_external(env, k, header_key_free, NULL, &v) != napi_ok) {
    header_key_free(env, k, NULL);
    return NULL;
  }
  napi_type_tag_object(env, v, &HEADER_KEY_TAG);
  return v;
}

/* the header MAC of the header at `frame` into `mac` (MAC_BYTES); 0 when OpenSSL fails */
static int header_mac(HeaderKey* k, const uint8_t* frame, uint8_t* mac) {
  uint8_t full[32];
  size_t n = 0;
  /* a NULL key re-initialises the context with the key it was given */
  if (EVP_MAC_init(k->mac, NULL, 0, NULL) != 1 || EVP_MAC_update(k->mac, frame, COUNTER_AT) != 1 ||
      EVP_MAC_update(k->mac, frame + SENT_AT, MAC_AT - SENT_AT) != 1 || EVP_MAC_final(k->mac, full, &n, sizeof full) != 1 ||
      n != sizeof full)
    return 0;
  memcpy(mac, full, MAC_BYTES);
  return 1;
}

/* whether two headers agree on every byte the header MAC covers */
static int same_mac_input(const uint8_t* a, const uint8_t* b) {
  return memcmp(a, b, COUNTER_AT) == 0 && memcmp(a + SENT_AT, b + SENT_AT, MAC_AT - SENT_AT) == 0;
}

#define USE_SEAL 1
#define USE_OPEN 2

/*
 * aeadKey(secret: 32 bytes, uses: USE_SEAL | USE_OPEN) → key handle with a context for each use asked: a receiver's
 * keys never seal, and a context costs a key schedule (forged datagrams of random epochs each make a key)
 */
static napi_value aead_key(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void* secret;
  size_t length;
  uint32_t uses = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      !typed_arg(env, argv[0], napi_uint8_array, &secret, &length) || length != KEY_BYTES ||
      napi_get_value_uint32(env, argv[1], &uses) != napi_ok || uses == 0 || (uses & ~(USE_SEAL | USE_OPEN)) != 0)
    return fail_type(env, "makuo_aead.aeadKey(secret: 32-byte Uint8Array, uses: 1 seal | 2 open)");
  AeadKey* k = calloc(1, sizeof *k);
  if (k == NULL) return fail_type(env, "makuo_aead: out of memory");
  if (uses & USE_SEAL) k->seal = EVP_CIPHER_CTX_new();
  if (uses & USE_OPEN) k->open = EVP_CIPHER_CTX_new();
  if (((uses & USE_SEAL) && (k->seal == NULL || EVP_EncryptInit_ex(k->seal, EVP_aes_256_gcm(), NULL, secret, NULL) != 1)) ||
      ((uses & USE_OPEN) && (k->open == NULL || EVP_DecryptInit_ex(k->open, EVP_aes_256_gcm(), NULL, secret, NULL) != 1))) {
    key_free(env, k, NULL);
    napi_throw_error(env, NULL, "makuo_aead: OpenSSL refused an AES-256-GCM context");
    return NULL;
  }
  napi_value v;
  if (napi_create_external(env, k, key_free, NULL, &v) != napi_ok) {
    key_free(env, k, NULL);
    return NULL;
  }
  napi_type_tag_object(env, v, &KEY_TAG);
  return v;
}

typedef struct {
  uint8_t* slab;
  size_t slab_length;
  uint32_t* starts;
  uint32_t* lengths;
  uint32_t count;
} Batch;

/*
 * slab, starts, lengths, count from argv[1..4], each frame (its length plus `extra`) checked to lie inside the
 * slab and to be at most MAX_FRAME bytes
 */
static int batch_args(napi_env env, napi_value* argv, Batch* b, size_t extra) {
  void *slab, *starts, *lengths;
  size_t n_starts, n_lengths;
  if (!typed_arg(env, argv[1], napi_uint8_array, &slab, &b->slab_length) ||
      !typed_arg(env, argv[2], napi_uint32_array, &starts, &n_starts) ||
      !typed_arg(env, argv[3], napi_uint32_array, &lengths, &n_lengths) ||
      napi_get_value_uint32(env, argv[4], &b->count) != napi_ok || b->count > n_starts || b->count > n_lengths)
    return 0;
  b->slab = slab;
  b->starts = starts;
  b->lengths = lengths;
  for (uint32_t i = 0; i < b->count; i++) {
    uint64_t frame = (uint64_t)b->lengths[i] + extra;
    if (frame > MAX_FRAME || (uint64_t)b->starts[i] + frame > b->slab_length) return 0;
  }
  return 1;
}

static void nonce_of(const uint8_t* frame, uint8_t* nonce) {
  memset(nonce, 0, NONCE - 8);
  memcpy(nonce + NONCE - 8, frame + COUNTER_AT, 8);
}

/*
 * aeadSeal(key, slab, starts, payloadLengths, count, headerKey) → count: writes each header's MAC, then encrypts
 * each payload after its header and appends the tag
 */
static napi_value aead_seal(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  Batch b;
  AeadKey* k = NULL;
  HeaderKey* h = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 || (k = key_arg(env, argv[0])) == NULL ||
      k->seal == NULL || !batch_args(env, argv, &b, HEADER + TAG) || (h = tagged_arg(env, argv[5], &HEADER_KEY_TAG)) == NULL)
    return fail_type(env, "makuo_aead.aeadSeal(key made to seal, slab: Uint8Array, starts: Uint32Array, lengths: Uint32Array, count, headerKey) with every frame inside the slab, at most 65535 bytes");
  int done = 0;
  const uint8_t* previous = NULL;
  for (uint32_t i = 0; i < b.count; i++) {
    uint8_t* frame = b.slab + b.starts[i];
    uint8_t* payload = frame + HEADER;
    int n = (int)b.lengths[i], out = 0, last = 0;
    uint8_t nonce[NONCE];
    if (previous != NULL && same_mac_input(previous, frame)) memcpy(frame + MAC_AT, previous + MAC_AT, MAC_BYTES);
    else if (!header_mac(h, frame, frame + MAC_AT)) {
      done = -1;
      break;
    }
    previous = frame;
    nonce_of(frame, nonce);
    if (EVP_EncryptInit_ex(k->seal, NULL, NULL, NULL, nonce) != 1 || EVP_EncryptUpdate(k->seal, NULL, &out, frame, HEADER) != 1 ||
        EVP_EncryptUpdate(k->seal, payload, &out, payload, n) != 1 || EVP_EncryptFinal_ex(k->seal, payload + out, &last) != 1 ||
        EVP_CIPHER_CTX_ctrl(k->seal, EVP_CTRL_GCM_GET_TAG, TAG, payload + n) != 1) {
      done = -1;
      break;
    }
    done++;
  }
  napi_value v;
  napi_create_int32(env, done, &v);
  return v;
}

/* frames laid out back to back: `segment` payload bytes each but the last, or `lengths[i]` the i-th */
typedef struct {
  uint32_t segment;
  const uint32_t* lengths;
  size_t count;
} RunLayout;

/* the body bytes of frame i, which starts `from` bytes into the bodies (`total` in all) */
static size_t run_body(const RunLayout* l, size_t i, size_t from, size_t total) {
  if (l->lengths != NULL) return l->lengths[i];
  return total - from < l->segment ? total - from : l->segment;
}

/* the tag of what `ctx` sealed into `tag` (TAG bytes): asked of the provider directly, not through the ctrl translation */
static int get_tag(EVP_CIPHER_CTX* ctx, uint8_t* tag) {
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAG), OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_get_params(ctx, params) == 1;
}

/* whether [a, a + an) and [b, b + bn) share a byte */
static int overlap(const uint8_t* a, size_t an, const uint8_t* b, size_t bn) { return an > 0 && bn > 0 && a < b + bn && b < a + an; }

/*
 * aeadSealRun(key, headerKey, header: 52 bytes, counter, type, bodies: Uint8Array, layout: segment | Uint32Array of
 * lengths, into: Uint8Array) → the bytes of frames written at the start of `into`. The bodies lie back to back in
 * `bodies` (a segment layout: `segment` bytes each but the last, at least one frame; lengths: adding up to at most
 * the bodies' length); each becomes a frame: `header` with the counter `counter + i` (the frames' only
 * difference, so the header MAC is computed once), the message type `type` and the body, encrypted, and the tag.
 * The frames lie back to back in `into`, each HEADER + 1 + TAG bytes longer than its body. One call per burst:
 * JavaScript neither lays the frames out nor writes their headers. -1 when OpenSSL fails.
 */
static napi_value aead_seal_run(napi_env env, napi_callback_info info) {
  static const char* usage =
    "makuo_aead.aeadSealRun(key made to seal, headerKey, header: 52-byte Uint8Array, counter, type, bodies: Uint8Array, "
    "layout: segment | Uint32Array, into: Uint8Array) with every frame at most 65535 bytes, the counters below 2^53 and "
    "room for the frames in `into`, apart from the bodies";
  size_t argc = 8;
  napi_value argv[8];
  AeadKey* k = NULL;
  HeaderKey* h = NULL;
  void *header, *bodies, *into, *lengths;
  size_t header_length, bodies_length, into_length, n_lengths;
  double counter;
  uint32_t type;
  napi_valuetype layout_type;
  RunLayout l = {0};
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 8 || (k = key_arg(env, argv[0])) == NULL ||
      k->seal == NULL || (h = tagged_arg(env, argv[1], &HEADER_KEY_TAG)) == NULL ||
      !typed_arg(env, argv[2], napi_uint8_array, &header, &header_length) || header_length != HEADER ||
      napi_get_value_double(env, argv[3], &counter) != napi_ok || !(counter >= 0 && counter < 9007199254740992.0) || counter != (double)(uint64_t)counter ||
      napi_get_value_uint32(env, argv[4], &type) != napi_ok || type > 255 ||
      !typed_arg(env, argv[5], napi_uint8_array, &bodies, &bodies_length) ||
      !typed_arg(env, argv[7], napi_uint8_array, &into, &into_length) || napi_typeof(env, argv[6], &layout_type) != napi_ok)
    return fail_type(env, usage);
  if (layout_type == napi_number) {
    if (napi_get_value_uint32(env, argv[6], &l.segment) != napi_ok || l.segment == 0) return fail_type(env, usage);
    l.count = bodies_length == 0 ? 1 : (bodies_length + l.segment - 1) / l.segment;
  } else {
    if (!typed_arg(env, argv[6], napi_uint32_array, &lengths, &n_lengths)) return fail_type(env, usage);
    l.lengths = lengths;
    l.count = n_lengths;
  }
  /* checked as they add up, so that no sum wraps past a check */
  uint64_t body_bytes = 0, frame_bytes = 0;
  for (size_t i = 0; i < l.count; i++) {
    uint64_t n = run_body(&l, i, body_bytes, bodies_length);
    body_bytes += n;
    frame_bytes += n + HEADER + 1 + TAG;
    if (n + HEADER + 1 + TAG > MAX_FRAME || body_bytes > bodies_length || frame_bytes > into_length) return fail_type(env, usage);
  }
  if (counter + (double)l.count > 9007199254740992.0 || overlap(bodies, body_bytes, into, frame_bytes)) return fail_type(env, usage);
  uint8_t* out = into;
  const uint8_t* in = bodies;
  uint8_t mac[MAC_BYTES];
  int ok = header_mac(h, header, mac);
  uint64_t c = (uint64_t)counter;
  size_t from = 0;
  for (size_t i = 0; ok && i < l.count; i++, c++) {
    size_t n = run_body(&l, i, from, bodies_length);
    uint8_t* frame = out;
    uint8_t* payload = frame + HEADER;
    memcpy(frame, header, HEADER);
    for (int b = 0; b < 8; b++) frame[COUNTER_AT + b] = (uint8_t)(c >> (56 - 8 * b));
    memcpy(frame + MAC_AT, mac, MAC_BYTES);
    payload[0] = (uint8_t)type;
    memcpy(payload + 1, in + from, n);
    uint8_t nonce[NONCE];
    int outl = 0, last = 0;
    nonce_of(frame, nonce);
    ok = EVP_EncryptInit_ex(k->seal, NULL, NULL, NULL, nonce) == 1 && EVP_EncryptUpdate(k->seal, NULL, &outl, frame, HEADER) == 1 &&
         EVP_EncryptUpdate(k->seal, payload, &outl, payload, (int)n + 1) == 1 && EVP_EncryptFinal_ex(k->seal, payload + outl, &last) == 1 &&
         get_tag(k->seal, payload + n + 1);
    from += n;
    out = payload + n + 1 + TAG;
  }
  napi_value v;
  napi_create_double(env, ok ? (double)frame_bytes : -1, &v);
  return v;
}

/* the tag a frame carries given to `ctx` to check: handed to the provider directly, not through the ctrl translation */
static int set_tag(EVP_CIPHER_CTX* ctx, uint8_t* tag) {
  OSSL_PARAM params[] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, TAG), OSSL_PARAM_construct_end()};
  return EVP_CIPHER_CTX_set_params(ctx, params) == 1;
}

/* the distinct keys of a batch held on the stack (mostly one: one epoch's frames); more take an allocation */
#define STACK_KEYS 16

/*
 * aeadOpen(keys: Array, which: Uint32Array, slab, starts, frameLengths, count, ok) → count: verifies and decrypts
 * frame i in place with keys[which[i] - 1] (skipped when which[i] is 0, or names no key made to open) and sets
 * ok[i] to 1 when its tag verified, else 0. The keys are a batch's distinct ones (mostly one epoch's): each is
 * looked at once per call, so a frame costs no call into the JavaScript engine (an element read and an identity
 * test per frame cost as much as the decryption of a 1.4 KiB frame).
 */
static napi_value aead_open(napi_env env, napi_callback_info info) {
  static const char* usage =
    "makuo_aead.aeadOpen(keys: Array, which: Uint32Array, slab: Uint8Array, starts: Uint32Array, lengths: Uint32Array, count, "
    "ok: Uint8Array) with every frame inside the slab, at most 65535 bytes";
  size_t argc = 7;
  napi_value argv[7];
  Batch b;
  void *ok, *which_data;
  size_t n_ok, n_which;
  bool is_array = false;
  uint32_t n_keys = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 7 || napi_is_array(env, argv[0], &is_array) != napi_ok ||
      !is_array || napi_get_array_length(env, argv[0], &n_keys) != napi_ok ||
      !typed_arg(env, argv[1], napi_uint32_array, &which_data, &n_which) || !batch_args(env, argv + 1, &b, 0) ||
      !typed_arg(env, argv[6], napi_uint8_array, &ok, &n_ok) || n_ok < b.count || n_which < b.count)
    return fail_type(env, usage);
  /* what is not a key made here (a header key, a socket, anything) opens nothing, as a missing key */
  AeadKey* on_stack[STACK_KEYS];
  AeadKey** keys = n_keys <= STACK_KEYS ? on_stack : malloc(n_keys * sizeof *keys);
  if (keys == NULL) return fail_type(env, "makuo_aead: out of memory");
  for (uint32_t j = 0; j < n_keys; j++) {
    napi_value key_value;
    keys[j] = napi_get_element(env, argv[0], j, &key_value) == napi_ok ? key_arg(env, key_value) : NULL;
  }
  const uint32_t* which = which_data;
  uint8_t* verified = ok;
  int done = 0;
  for (uint32_t i = 0; i < b.count; i++) {
    verified[i] = 0;
    AeadKey* k = which[i] >= 1 && which[i] <= n_keys ? keys[which[i] - 1] : NULL;
    if (k == NULL || k->open == NULL || b.lengths[i] < HEADER + TAG + 1) {
      done++;
      continue;
    }
    uint8_t* frame = b.slab + b.starts[i];
    uint8_t* payload = frame + HEADER;
    int n = (int)(b.lengths[i] - HEADER - TAG), out = 0, last = 0;
    uint8_t nonce[NONCE];
    nonce_of(frame, nonce);
    if (EVP_DecryptInit_ex(k->open, NULL, NULL, NULL, nonce) != 1 || EVP_DecryptUpdate(k->open, NULL, &out, frame, HEADER) != 1 ||
        EVP_DecryptUpdate(k->open, payload, &out, payload, n) != 1 || !set_tag(k->open, payload + n)) {
      done = -1;
      break;
    }
    verified[i] = EVP_DecryptFinal_ex(k->open, payload + out, &last) == 1;
    done++;
  }
  if (keys != on_stack) free(keys);
  napi_value v;
  napi_create_int32(env, done, &v);
  return v;
}

/* headerOk(headerKey, frame: Uint8Array of at least the header) → whether its header MAC is right (compared in constant time) */
static napi_value header_ok(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  HeaderKey* h = NULL;
  void* frame;
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 || (h = tagged_arg(env, argv[0], &HEADER_KEY_TAG)) == NULL ||
      !typed_arg(env, argv[1], napi_uint8_array, &frame, &length) || length < HEADER)
    return fail_type(env, "makuo_aead.headerOk(headerKey, frame: Uint8Array of at least 52 bytes)");
  uint8_t mac[MAC_BYTES];
  if (!header_mac(h, frame, mac)) {
    napi_throw_error(env, NULL, "makuo_aead: OpenSSL failed computing a header MAC");
    return NULL;
  }
  napi_value v;
  napi_get_boolean(env, CRYPTO_memcmp(mac, (uint8_t*)frame + MAC_AT, MAC_BYTES) == 0, &v);
  return v;
}

void makuo_aead_init(napi_env env, napi_value exports) {
  napi_value yes;
  napi_get_boolean(env, true, &yes);
  napi_property_descriptor props[] = {
    {"aeadKey", NULL, aead_key, NULL, NULL, NULL, napi_default, NULL},
    {"aeadSeal", NULL, aead_seal, NULL, NULL, NULL, napi_default, NULL},
    {"aeadSealRun", NULL, aead_seal_run, NULL, NULL, NULL, napi_default, NULL},
    {"aeadOpen", NULL, aead_open, NULL, NULL, NULL, napi_default, NULL},
    {"headerKey", NULL, header_key, NULL, NULL, NULL, napi_default, NULL},
    {"headerOk", NULL, header_ok, NULL, NULL, NULL, napi_default, NULL},
    /* aeadOpen takes a batch's distinct keys and an index per frame (an older addon took a key per frame) */
    {"aeadOpenByIndex", NULL, NULL, NULL, NULL, yes, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
