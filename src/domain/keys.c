#include "gromo/keys.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SECRET_META "api_key_secret"

static const char *const role_names[] = {"public", "viewer", "analyst", "admin"};

const char *role_name(enum role r) {
  return (unsigned)r <= ROLE_ADMIN ? role_names[r] : "unknown";
}

int role_parse(const char *s, int allow_public, enum role *out) {
  for (int r = allow_public ? ROLE_PUBLIC : ROLE_VIEWER; r <= ROLE_ADMIN; r++)
    if (!strcmp(s, role_names[r])) {
      *out = (enum role)r;
      return 0;
    }
  return -1;
}

static int sodium_ready(struct gerr *err) {
  if (sodium_init() < 0)
    return gerr_set(err, GERR_INTERNAL, "libsodium could not be initialised");
  return 0;
}

int keys_secret(struct store *s, unsigned char secret[KEY_SECRET_LEN],
                struct gerr *err) {
  char hex[2 * KEY_SECRET_LEN + 1];
  if (sodium_ready(err) < 0)
    return -1;
  int rc = store_meta_get(s, SECRET_META, hex, sizeof hex, err);
  if (rc < 0)
    return -1;
  if (rc == 1) {
    /* Created under the write lock, re-read inside it: two processes
     * starting at once agree on one secret. */
    if (store_begin(s, err) < 0)
      return -1;
    rc = store_meta_get(s, SECRET_META, hex, sizeof hex, err);
    if (rc == 1) {
      unsigned char fresh[KEY_SECRET_LEN];
      randombytes_buf(fresh, sizeof fresh);
      sodium_bin2hex(hex, sizeof hex, fresh, sizeof fresh);
      sodium_memzero(fresh, sizeof fresh);
      rc = store_meta_set(s, SECRET_META, hex, err);
    }
    if (rc < 0 || store_commit(s, err) < 0) {
      store_rollback(s);
      return -1;
    }
  }
  size_t len = 0;
  if (sodium_hex2bin(secret, KEY_SECRET_LEN, hex, strlen(hex), NULL, &len, NULL) != 0 ||
      len != KEY_SECRET_LEN)
    return gerr_set(err, GERR_INTERNAL, "the stored key secret is damaged");
  sodium_memzero(hex, sizeof hex);
  return 0;
}

static void key_hash(const unsigned char secret[KEY_SECRET_LEN], const char *key,
                     size_t len, unsigned char out[32]) {
  crypto_generichash(out, 32, (const unsigned char *)key, len, secret, KEY_SECRET_LEN);
}

static int name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '_' || c == '.' || c == '@' || c == '-'))
      return 0;
  }
  return strspn(name, "0123456789") != n; /* all digits would read as an id */
}

int keys_create(struct store *s, const unsigned char secret[KEY_SECRET_LEN],
                const char *name, enum role role, char key_out[KEY_TEXT_LEN + 1],
                struct key_row *row, struct gerr *err) {
  if (!name_ok(name))
    return gerr_set(err, GERR_INVALID_INPUT,
                    "a key name is 1-64 characters of letters, digits, _ . @ -, "
                    "not all digits");
  if (role == ROLE_PUBLIC)
    return gerr_set(err, GERR_INVALID_INPUT, "a key's role is viewer, analyst or admin");
  if (sodium_ready(err) < 0)
    return -1;
  unsigned char raw[32];
  char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(b64, sizeof b64, raw, sizeof raw,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  snprintf(key_out, KEY_TEXT_LEN + 1, "%s%s", KEY_TEXT_PREFIX, b64);
  sodium_memzero(b64, sizeof b64);

  struct key_row k;
  memset(&k, 0, sizeof k);
  snprintf(k.name, sizeof k.name, "%s", name);
  snprintf(k.role, sizeof k.role, "%s", role_name(role));
  memcpy(k.prefix, key_out, KEY_LOOKUP_LEN);
  k.prefix[KEY_LOOKUP_LEN] = '\0';
  key_hash(secret, key_out, KEY_TEXT_LEN, k.hash);
  if (store_key_insert(s, &k, &k.id, err) < 0) {
    sodium_memzero(key_out, KEY_TEXT_LEN + 1);
    return -1;
  }
  if (row)
    *row = k;
  return 0;
}

struct verify_ctx {
  unsigned char want[32];
  struct key_row *out;
  int found;
};

static int verify_row(void *ctx, const struct key_row *k) {
  struct verify_ctx *v = ctx;
  if (sodium_memcmp(k->hash, v->want, sizeof v->want) == 0) {
    *v->out = *k;
    v->found = 1;
    return 1;
  }
  return 0;
}

/* Keys verified lately, kept in memory for when the store cannot be
 * reached: a request with a key that the store accepted within the last
 * KEY_OUTAGE_GRACE_S seconds still passes then, so answers that need no
 * store (predictions from the loaded model) go on through an outage. A
 * key found unknown or revoked is dropped at once; only the store's being
 * unavailable makes the memory count. Keyed by the keyed hash, never the
 * key itself. */
#define KEY_OUTAGE_GRACE_S 600
#define RECENT_KEYS 256

/* On a shared store (PostgreSQL) asking it costs a round trip to another
 * server on every request, about as much as the rest of a prediction: a
 * key the store accepted less than KEY_SHARED_RECHECK_MS ago passes
 * without asking again. So a revocation counts on every instance within
 * that time (and on SQLite, where asking is a function call, at once). */
#define KEY_SHARED_RECHECK_MS 1000

static struct {
  unsigned char hash[32];
  struct key_row row;
  time_t at;
  int64_t at_ms; /* monotonic */
  int used;
} recent[RECENT_KEYS];
static pthread_mutex_t recent_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t recent_slot(const unsigned char hash[32]) {
  size_t h = 0;
  memcpy(&h, hash, sizeof h);
  return h % RECENT_KEYS;
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void recent_remember(const unsigned char hash[32], const struct key_row *k) {
  size_t i = recent_slot(hash);
  pthread_mutex_lock(&recent_lock);
  memcpy(recent[i].hash, hash, 32);
  recent[i].row = *k;
  recent[i].at = time(NULL);
  recent[i].at_ms = mono_ms();
  recent[i].used = 1;
  pthread_mutex_unlock(&recent_lock);
}

static void recent_forget(const unsigned char hash[32]) {
  size_t i = recent_slot(hash);
  pthread_mutex_lock(&recent_lock);
  if (recent[i].used && sodium_memcmp(recent[i].hash, hash, 32) == 0)
    recent[i].used = 0;
  pthread_mutex_unlock(&recent_lock);
}

/* The remembered key, if the store accepted it at most max_ms ago (-1:
 * within KEY_OUTAGE_GRACE_S): 0, or -1. */
static int recent_lookup(const unsigned char hash[32], int64_t max_ms, struct key_row *out,
                         enum role *role) {
  size_t i = recent_slot(hash);
  int rc = -1;
  pthread_mutex_lock(&recent_lock);
  if (recent[i].used && sodium_memcmp(recent[i].hash, hash, 32) == 0 &&
      (max_ms < 0 ? time(NULL) - recent[i].at <= KEY_OUTAGE_GRACE_S
                  : mono_ms() - recent[i].at_ms <= max_ms) &&
      role_parse(recent[i].row.role, 0, role) == 0) {
    *out = recent[i].row;
    rc = 0;
  }
  pthread_mutex_unlock(&recent_lock);
  return rc;
}

int keys_verify(struct store *s, const unsigned char secret[KEY_SECRET_LEN],
                const char *key, size_t len, struct key_row *out, enum role *role,
                struct gerr *err) {
  if (len != KEY_TEXT_LEN || memcmp(key, KEY_TEXT_PREFIX, sizeof KEY_TEXT_PREFIX - 1))
    return 1;
  char prefix[KEY_LOOKUP_LEN + 1];
  memcpy(prefix, key, KEY_LOOKUP_LEN);
  prefix[KEY_LOOKUP_LEN] = '\0';
  struct verify_ctx v = {.out = out};
  key_hash(secret, key, len, v.want);
  if (s && store_shared(s) && recent_lookup(v.want, KEY_SHARED_RECHECK_MS, out, role) == 0)
    return 0;
  if (!s || store_key_scan(s, prefix, verify_row, &v, err) < 0)
    return err && err->code == GERR_UNAVAILABLE && recent_lookup(v.want, -1, out, role) == 0
               ? 0
               : -1;
  if (!v.found || out->revoked_at[0] || role_parse(out->role, 0, role) < 0) {
    recent_forget(v.want);
    return 1;
  }
  recent_remember(v.want, out);
  return 0;
}
