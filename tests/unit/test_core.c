/* src/core: errors, bounded buffers, time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gromo/buf.h"
#include "gromo/error.h"
#include "gromo/timeutil.h"

static void test_error__table_agrees(void **state) {
  static const struct {
    enum gerr_code code;
    int status;
    const char *name;
  } rows[] = {
      {GERR_INVALID_INPUT, 400, "invalid_input"},
      {GERR_UNAUTHORIZED, 401, "unauthorized"},
      {GERR_FORBIDDEN, 403, "forbidden"},
      {GERR_NOT_FOUND, 404, "not_found"},
      {GERR_METHOD, 405, "method_not_allowed"},
      {GERR_CONFLICT, 409, "conflict"},
      {GERR_TOO_LARGE, 413, "payload_too_large"},
      {GERR_MEDIA_TYPE, 415, "unsupported_media_type"},
      {GERR_INVALID_RECORDS, 422, "invalid_records"},
      {GERR_RATE_LIMITED, 429, "rate_limited"},
      {GERR_INTERNAL, 500, "internal_error"},
      {GERR_UNAVAILABLE, 503, "unavailable"},
      {GERR_INSUFFICIENT_STORAGE, 507, "insufficient_storage"},
      {GERR_DISK_FULL, 503, "unavailable"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    assert_int_equal(gerr_http_status(rows[i].code), rows[i].status);
    assert_string_equal(gerr_name(rows[i].code), rows[i].name);
  }
  assert_int_equal(gerr_http_status((enum gerr_code)999), 500);
}

static void test_error__set_and_prefix(void **state) {
  struct gerr e;
  assert_int_equal(gerr_set(&e, GERR_NOT_FOUND, "region %d", 7), -1);
  assert_int_equal(e.code, GERR_NOT_FOUND);
  assert_string_equal(e.msg, "region 7");
  gerr_prefix(&e, "file.json");
  assert_string_equal(e.msg, "file.json: region 7");
  assert_int_equal(gerr_set(NULL, GERR_INTERNAL, "x"), -1); /* NULL is fine */
  char longp[600];
  memset(longp, 'p', sizeof longp - 1);
  longp[sizeof longp - 1] = '\0';
  gerr_prefix(&e, longp);
  assert_true(strlen(e.msg) < sizeof e.msg);
}

static void test_buf__limit_is_enforced(void **state) {
  struct buf b;
  buf_init(&b, 10);
  assert_int_equal(buf_append(&b, "0123456789", 10), 0);
  assert_int_equal(b.len, 10);
  errno = 0;
  assert_int_equal(buf_append(&b, "x", 1), -1);
  assert_int_equal(errno, E2BIG);
  assert_int_equal(b.len, 10); /* unchanged on failure */
  assert_string_equal(b.data, "0123456789");
  buf_reset(&b);
  assert_int_equal(buf_printf(&b, "%d-%s", 42, "ab"), 0);
  assert_string_equal(b.data, "42-ab");
  assert_int_equal(buf_printf(&b, "%s", "too long for it"), -1);
  size_t n;
  char *p = buf_detach(&b, &n);
  assert_int_equal(n, 5);
  free(p);
  assert_null(b.data);
  buf_release(&b);
}

static void test_buf__json_escape(void **state) {
  struct buf b;
  buf_init(&b, 1000);
  assert_int_equal(buf_json_escape(&b, "a\"b\\c\n\x01\x7f\xc3\xa9", 10), 0);
  assert_string_equal(b.data, "a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9");
  buf_release(&b);
}

static void test_time__civil_round_trip(void **state) {
  static const struct {
    int y;
    unsigned m, d;
    int64_t days;
  } rows[] = {
      {1970, 1, 1, 0}, {2000, 1, 1, 10957}, {2000, 2, 29, 11016},
      {2024, 12, 31, 20088}, {1969, 12, 31, -1},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    assert_int_equal(days_from_civil(rows[i].y, rows[i].m, rows[i].d), rows[i].days);
    int y;
    unsigned m, d;
    civil_from_days(rows[i].days, &y, &m, &d);
    assert_int_equal(y, rows[i].y);
    assert_int_equal(m, rows[i].m);
    assert_int_equal(d, rows[i].d);
  }
}

static void test_time__format(void **state) {
  char out[24], day[11];
  int64_t ms = days_from_civil(2025, 4, 15) * DAY_MS + ((12 * 60 + 30) * 60 + 45) * 1000LL;
  assert_int_equal(ist_format(ms, out), 19);
  assert_string_equal(out, "2025-04-15 12:30:45");
  assert_int_equal(ist_format(ms + 7, out), 23);
  assert_string_equal(out, "2025-04-15 12:30:45.007");
  ist_format_date(ms, day);
  assert_string_equal(day, "2025-04-15");
  ist_format(-1, out); /* before the epoch floors correctly */
  assert_string_equal(out, "1969-12-31 23:59:59.999");
  /* now_ist_ms is UTC + 5:30 */
  int64_t now = now_ist_ms();
  assert_true(now > days_from_civil(2024, 1, 1) * DAY_MS);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error__table_agrees),
      cmocka_unit_test(test_error__set_and_prefix),
      cmocka_unit_test(test_buf__limit_is_enforced),
      cmocka_unit_test(test_buf__json_escape),
      cmocka_unit_test(test_time__civil_round_trip),
      cmocka_unit_test(test_time__format),
  };
  return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
