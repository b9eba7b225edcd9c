/* API keys (src/domain/keys.c) on a fresh SQLite store: a created key
 * verifies with its role; any other text, a changed character, a key
 * hashed with another secret and a revoked key do not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "gromo/keys.h"
#include "gromo/store.h"

static char dir[TEST_TMPDIR_CAP], path[TEST_TMPDIR_CAP + 16];
static struct store *st;
static unsigned char secret[KEY_SECRET_LEN];

static int setup(void **state) {
  struct gerr err;
  if (test_tmpdir("keys", dir) < 0)
    return -1;
  snprintf(path, sizeof path, "%s/k.db", dir);
  if (store_open(path, &st, &err) < 0 || keys_secret(st, secret, &err) < 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  store_close(st);
  st = NULL;
  test_tmpdir_remove(dir);
  return 0;
}

/* keys_verify's answer for text: 0 valid, 1 not. */
static int verify(const unsigned char *sec, const char *key, enum role *role) {
  struct key_row row;
  struct gerr err;
  enum role r = ROLE_PUBLIC;
  int rc = keys_verify(st, sec, key, strlen(key), &row, &r, &err);
  if (rc < 0)
    fail_msg("keys_verify: %s", err.msg);
  if (role)
    *role = r;
  return rc;
}

static void test_keys__created_key_verifies_with_its_role(void **state) {
  char key[KEY_TEXT_LEN + 1];
  struct key_row row;
  struct gerr err;
  assert_int_equal(keys_create(st, secret, "analyst-1", ROLE_ANALYST, key, &row, &err), 0);
  assert_int_equal(strlen(key), KEY_TEXT_LEN);
  assert_int_equal(strncmp(key, "gromo_", 6), 0);
  enum role role;
  assert_int_equal(verify(secret, key, &role), 0);
  assert_int_equal(role, ROLE_ANALYST);
  /* The secret is made once: asked again, it is the same. */
  unsigned char again[KEY_SECRET_LEN];
  assert_int_equal(keys_secret(st, again, &err), 0);
  assert_memory_equal(again, secret, KEY_SECRET_LEN);
}

static void test_keys__anything_else_is_refused(void **state) {
  char key[KEY_TEXT_LEN + 1], bad[KEY_TEXT_LEN + 2];
  struct key_row row;
  struct gerr err;
  assert_int_equal(keys_create(st, secret, "viewer-1", ROLE_VIEWER, key, &row, &err), 0);
  /* One character changed, anywhere after the prefix. */
  for (size_t i = 6; i < KEY_TEXT_LEN; i += 7) {
    memcpy(bad, key, sizeof key);
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    assert_int_equal(verify(secret, bad, NULL), 1);
  }
  static const char *const junk[] = {"", "gromo_", "gromo_short", "not-a-key",
                                     "GROMO_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
  for (size_t i = 0; i < N_OF(junk); i++)
    assert_int_equal(verify(secret, junk[i], NULL), 1);
  /* One character more. */
  snprintf(bad, sizeof bad, "%sA", key);
  assert_int_equal(verify(secret, bad, NULL), 1);
  /* The right key under another secret. */
  unsigned char other[KEY_SECRET_LEN];
  memcpy(other, secret, sizeof other);
  other[0] ^= 1;
  assert_int_equal(verify(other, key, NULL), 1);
  assert_int_equal(verify(secret, key, NULL), 0);
}

static void test_keys__revoked_key_is_refused(void **state) {
  char key[KEY_TEXT_LEN + 1];
  struct key_row row;
  struct gerr err;
  assert_int_equal(keys_create(st, secret, "admin-1", ROLE_ADMIN, key, &row, &err), 0);
  assert_int_equal(verify(secret, key, NULL), 0);
  assert_int_equal(store_key_revoke(st, "admin-1", &err), 0);
  assert_int_equal(verify(secret, key, NULL), 1);
  assert_int_equal(store_key_revoke(st, "admin-1", &err), 1); /* no active key now */
  /* by id: its digits */
  char id[24];
  assert_int_equal(keys_create(st, secret, "admin-2", ROLE_ADMIN, key, &row, &err), 0);
  snprintf(id, sizeof id, "%lld", (long long)row.id);
  assert_int_equal(store_key_revoke(st, id, &err), 0);
  assert_int_equal(verify(secret, key, NULL), 1);
  assert_int_equal(store_key_revoke(st, id, &err), 1);
}

/* A revocation names a key by id only with digits alone, within int64. */
static void test_keys__id_or_name(void **state) {
  (void)state;
  int64_t id = -1;
  assert_int_equal(store_key_id_of("42", &id), 1);
  assert_int_equal(id, 42);
  assert_int_equal(store_key_id_of("007", &id), 1);
  assert_int_equal(id, 7);
  assert_int_equal(store_key_id_of("9223372036854775807", &id), 1);
  const char *const names[] = {"", "-1", "+1", " 1", "1 ", "1a", "a1", "0x10",
                               "9223372036854775808", "99999999999999999999"};
  for (size_t i = 0; i < N_OF(names); i++)
    if (store_key_id_of(names[i], &id) != 0)
      fail_msg("'%s' read as an id", names[i]);
}

static void test_keys__names(void **state) {
  char key[KEY_TEXT_LEN + 1];
  struct key_row row;
  struct gerr err;
  assert_int_equal(keys_create(st, secret, "ops.team@x-1_a", ROLE_VIEWER, key, &row, &err), 0);
  assert_int_equal(keys_create(st, secret, "ops.team@x-1_a", ROLE_VIEWER, key, &row, &err), -1);
  assert_int_equal(err.code, GERR_CONFLICT);
  char long_name[70];
  memset(long_name, 'n', 65);
  long_name[65] = '\0';
  static const char *const bad[] = {"", "has space", "semi;colon", "quote\"", NULL};
  for (size_t i = 0; bad[i]; i++)
    assert_int_equal(keys_create(st, secret, bad[i], ROLE_VIEWER, key, &row, &err), -1);
  assert_int_equal(keys_create(st, secret, long_name, ROLE_VIEWER, key, &row, &err), -1);
  enum role r;
  assert_int_equal(role_parse("analyst", 0, &r), 0);
  assert_int_equal(r, ROLE_ANALYST);
  assert_int_equal(role_parse("public", 0, &r), -1);
  assert_int_equal(role_parse("public", 1, &r), 0);
  assert_string_equal(role_name(ROLE_ADMIN), "admin");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_keys__created_key_verifies_with_its_role, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_keys__anything_else_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys__revoked_key_is_refused, setup, teardown),
      cmocka_unit_test_setup_teardown(test_keys__names, setup, teardown),
      cmocka_unit_test(test_keys__id_or_name),
  };
  return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
