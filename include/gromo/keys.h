/* API keys and roles. A key is "gromo_" and 43 base64url characters (256
 * random bits). The store keeps its first characters (to find it) and a
 * keyed BLAKE2b hash (libsodium's crypto_generichash with a secret kept in
 * the store's settings), compared in constant time; the key itself is shown
 * once, when created, and never stored or logged. */
#ifndef GROMO_KEYS_H
#define GROMO_KEYS_H

#include <stddef.h>

#include "gromo/error.h"
#include "gromo/store.h"

/* Roles nest: admin ⊃ analyst ⊃ viewer ⊃ public. */
enum role { ROLE_PUBLIC = 0, ROLE_VIEWER, ROLE_ANALYST, ROLE_ADMIN };
const char *role_name(enum role r);
/* "viewer", "analyst", "admin" (and "public" when allow_public). 0 or -1. */
int role_parse(const char *s, int allow_public, enum role *out);

#define KEY_TEXT_PREFIX "gromo_"
#define KEY_TEXT_LEN 49   /* "gromo_" + 43 */
#define KEY_LOOKUP_LEN 14 /* the stored, non-secret start of a key */
#define KEY_SECRET_LEN 32

/* The hashing secret, created on first use (safe against a concurrent
 * creator). */
int keys_secret(struct store *s, unsigned char secret[KEY_SECRET_LEN],
                struct gerr *err) GROMO_WUR;

/* Creates a key; writes it (NUL-terminated) to key_out. The name is 1-64
 * characters [A-Za-z0-9_.@-]. GERR_CONFLICT when the name is taken. */
int keys_create(struct store *s, const unsigned char secret[KEY_SECRET_LEN],
                const char *name, enum role role, char key_out[KEY_TEXT_LEN + 1],
                struct key_row *row, struct gerr *err) GROMO_WUR;

/* Checks a presented key: 0 when it is a stored, active key (*out filled,
 * *role set), 1 when it is not (unknown, malformed or revoked), -1 on a
 * store error. When the store is unavailable (GERR_UNAVAILABLE; also s NULL
 * with *err saying why no connection could be had), a key the store
 * accepted in the last 10 minutes still passes, from memory. On a shared
 * store (store_shared: PostgreSQL) a key it accepted in the last second
 * passes without asking it again, so a revocation counts within a second;
 * on SQLite at once. */
int keys_verify(struct store *s, const unsigned char secret[KEY_SECRET_LEN],
                const char *key, size_t len, struct key_row *out,
                enum role *role, struct gerr *err) GROMO_WUR;

#endif
