/* src/core: errors, bounded buffers, time, shares. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/rng.h"
#include "gromo/buf.h"
#include "gromo/error.h"
#include "gromo/parse.h"
#include "gromo/shares.h"
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
  /* SIZE_MAX is no limit: the buffer grows past its first block */
  buf_init(&b, SIZE_MAX);
  for (int i = 0; i < 100; i++)
    assert_int_equal(buf_append(&b, "0123456789", 10), 0);
  assert_int_equal(b.len, 1000);
  assert_true(b.cap > 1000);
  assert_int_equal(memcmp(b.data + 990, "0123456789", 10), 0);
  buf_release(&b);
}

static void test_buf__json_escape(void **state) {
  struct buf b;
  buf_init(&b, 1000);
  assert_int_equal(buf_json_escape(&b, "a\"b\\c\n\x01\x7f\xc3\xa9", 10), 0);
  /* DEL needs no escape (RFC 8259 section 7; jansson leaves it too). */
  assert_string_equal(b.data, "a\\\"b\\\\c\\n\\u0001\x7f\xc3\xa9");
  buf_release(&b);
  /* The byte-level escape the answer writer uses is the same one. */
  char esc[6];
  assert_int_equal(json_escape_byte('a', esc), 0);
  assert_int_equal(json_escape_byte(0x7f, esc), 0);
  assert_int_equal(json_escape_byte('\t', esc), 2);
  assert_memory_equal(esc, "\\t", 2);
  assert_int_equal(json_escape_byte(0x1f, esc), 6);
  assert_memory_equal(esc, "\\u001f", 6);
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
  /* now_ist_ms is UTC + 5:30, whatever the date */
  int64_t before = (int64_t)time(NULL) * 1000;
  int64_t now = now_ist_ms() - IST_OFFSET_MS;
  int64_t after = (int64_t)time(NULL) * 1000 + 1000;
  assert_true(now >= before && now < after);
}

/* Each share rounded on its own, as the answers were printed before. */
static long naive_sum(const double *p, size_t n, long total) {
  long s = 0;
  for (size_t i = 0; i < n; i++)
    s += llround(p[i] * (double)total);
  return s;
}

static void test_shares__largest_remainder(void **state) {
  static const struct {
    double p[4];
    size_t n;
    long total, naive; /* the sum of the shares rounded one by one */
    long want[4];
  } rows[] = {
      /* thirds: 0.3333 x 3 = 0.9999; the tie goes to the first */
      {{1.0 / 3, 1.0 / 3, 1.0 / 3}, 3, 10000, 9999, {3334, 3333, 3333}},
      /* 0.2501 x 3 + 0.2498 = 1.0001 */
      {{0.25006, 0.25006, 0.25006, 0.24982}, 4, 10000, 10001, {2501, 2501, 2500, 2498}},
      /* 0.9999; equal remainders: the larger share gets the unit */
      {{0.12344, 0.54344, 0.33312}, 3, 10000, 9999, {1234, 5435, 3331}},
      /* the CLI's tenths of a percent */
      {{1.0 / 3, 1.0 / 3, 1.0 / 3}, 3, 1000, 999, {334, 333, 333}},
      {{0.6667, 0.1667, 0.1666}, 3, 1000, 1001, {667, 167, 166}},
      /* taken in proportion to their sum */
      {{2, 1, 1}, 3, 10000, -1, {5000, 2500, 2500}},
      {{0.7}, 1, 10000, -1, {10000}},
      /* nothing for a share that is not a positive number */
      {{0, NAN, -1, 0.5}, 4, 10000, -1, {0, 0, 0, 10000}},
  };
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    if (rows[r].naive >= 0)
      assert_int_equal(naive_sum(rows[r].p, rows[r].n, rows[r].total), rows[r].naive);
    long u[4] = {-7, -7, -7, -7};
    assert_int_equal(shares_round(rows[r].p, rows[r].n, rows[r].total, u), 0);
    long sum = 0;
    for (size_t i = 0; i < rows[r].n; i++) {
      if (u[i] != rows[r].want[i])
        fail_msg("row %zu, share %zu: %ld, not %ld", r, i, u[i], rows[r].want[i]);
      sum += u[i];
    }
    assert_int_equal(sum, rows[r].total);
  }
  /* Nothing to share: refused, units untouched. */
  static const double none[] = {0, -0.5, NAN};
  long u[3] = {-7, -7, -7};
  assert_int_equal(shares_round(none, 3, 10000, u), -1);
  assert_int_equal(shares_round(none, 0, 10000, u), -1);
  assert_true(u[0] == -7 && u[1] == -7 && u[2] == -7);
}

/* Random shares: they always add up, each stays within a unit of its exact
 * value, and a larger share never gets fewer units. */
static void test_shares__properties(void **state) {
  uint64_t x = 88172645463325252ULL;
  for (int t = 0; t < 20000; t++) {
    double p[8], sum = 0;
    long u[8];
    size_t n = 1 + (size_t)(t % 8);
    for (size_t i = 0; i < n; i++) {
      p[i] = rng_unit(&x);
      if (t % 5 == 0)
        p[i] = floor(p[i] * 8) / 8; /* ties */
      sum += p[i];
    }
    if (!(sum > 0))
      continue;
    assert_int_equal(shares_round(p, n, 10000, u), 0);
    long total = 0;
    for (size_t i = 0; i < n; i++) {
      total += u[i];
      assert_true(fabs((double)u[i] - p[i] / sum * 10000) < 1);
      for (size_t j = 0; j < n; j++)
        if (p[i] > p[j])
          assert_true(u[i] >= u[j]);
    }
    assert_int_equal(total, 10000);
  }
}

static void test_parse__int_range(void **state) {
  static const struct {
    const char *s;
    long long lo, hi;
    int rc;
    long long v;
  } cases[] = {
      {"0", 0, 10, 0, 0},
      {"10", 0, 10, 0, 10},
      {"11", 0, 10, -1, 0},
      {"-5", -10, 10, 0, -5},
      {"-5", 0, 10, -1, 0},
      {"9223372036854775807", 0, 9223372036854775807LL, 0, 9223372036854775807LL},
      {"9223372036854775808", 0, 9223372036854775807LL, -1, 0}, /* overflow */
      {"", 0, 10, -1, 0},
      {"-", 0, 10, -1, 0},
      {" 5", 0, 10, -1, 0},
      {"5 ", 0, 10, -1, 0},
      {"+5", 0, 10, -1, 0},
      {"5.0", 0, 10, -1, 0},
      {"0x5", 0, 10, -1, 0},
      {"000000000000000000005", 0, 10, -1, 0}, /* 21 characters */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    long long v = 0;
    int rc = parse_int_range(cases[i].s, cases[i].lo, cases[i].hi, &v);
    if (rc != cases[i].rc || (rc == 0 && v != cases[i].v))
      fail_msg("parse_int_range(\"%s\", %lld, %lld): %d, %lld", cases[i].s, cases[i].lo,
               cases[i].hi, rc, v);
  }
  long long v = 0;
  assert_int_equal(parse_int_range(NULL, 0, 1, &v), -1);
}

/* Comma-separated lists: items trimmed, empty ones kept in the middle, none
 * after a trailing comma. */
static void test_parse__lists(void **state) {
  (void)state;
  const char *cur = " a , bb,,c ,", *item;
  size_t len, n = 0;
  static const char *const want[] = {"a", "bb", "", "c"};
  while (list_next(&cur, &item, &len)) {
    assert_true(n < 4);
    assert_int_equal(len, strlen(want[n]));
    assert_memory_equal(item, want[n], len);
    n++;
  }
  assert_int_equal(n, 4);
  assert_true(list_has("10.0.0.1, 10.0.0.2", "10.0.0.2", 8));
  assert_false(list_has("10.0.0.1, 10.0.0.2", "10.0.0.", 7));
  assert_false(list_has("", "", 0));
  assert_false(list_has(NULL, "a", 1));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error__table_agrees),
      cmocka_unit_test(test_error__set_and_prefix),
      cmocka_unit_test(test_buf__limit_is_enforced),
      cmocka_unit_test(test_buf__json_escape),
      cmocka_unit_test(test_parse__int_range),
      cmocka_unit_test(test_parse__lists),
      cmocka_unit_test(test_time__civil_round_trip),
      cmocka_unit_test(test_time__format),
      cmocka_unit_test(test_shares__largest_remainder),
      cmocka_unit_test(test_shares__properties),
  };
  return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
