/* src/ingest/json.c: JSON array and NDJSON readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "gromo/ingest.h"
#include "gromo/timeutil.h"

#define REC(pin) \
  "{\"date\":\"2025-01-01\",\"pincode\":\"" pin "\",\"product\":\"loan\"," \
  "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":1000}"

struct seen {
  int valid[16];
  size_t row[16];
  size_t n;
  int rc;
  struct gerr err;
};

static void read_all(const char *text, enum ingest_format fmt, struct seen *s) {
  struct ingest_reader *r = NULL;
  memset(s, 0, sizeof *s);
  s->rc = ingest_json_open(text, strlen(text), fmt, &r, &s->err);
  if (s->rc < 0)
    return;
  struct sale_rules rules = {.now_ist_ms = now_ist_ms()};
  struct sale rec;
  struct sale_problems pr;
  size_t row, index;
  int valid;
  while ((s->rc = ingest_next(r, &rules, &rec, &valid, &pr, &row, &index, &s->err)) == 1) {
    assert_int_equal(index, s->n);
    s->valid[s->n] = valid;
    s->row[s->n++] = row;
  }
  ingest_free(r);
}

static void test_ingest__detect(void **state) {
  assert_int_equal(ingest_detect("x.json", "  [", 3), INGEST_JSON_ARRAY);
  assert_int_equal(ingest_detect("x.json", "\xEF\xBB\xBF{", 4), INGEST_NDJSON);
  assert_int_equal(ingest_detect("x.JSONL", "[", 1), INGEST_NDJSON);
  assert_int_equal(ingest_detect("x.ndjson", "", 0), INGEST_NDJSON);
  assert_int_equal(ingest_detect("x.csv", "date,pincode", 12), INGEST_UNKNOWN);
  assert_int_equal(ingest_detect(NULL, "\x00\x01", 2), INGEST_UNKNOWN);
}

static void test_ingest__json_array_rows(void **state) {
  struct seen s;
  read_all("[\n" REC("400001") ",\n" REC("12") ",\n\n" REC("110001") "\n]\n",
           INGEST_JSON_ARRAY, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 3);
  assert_true(s.valid[0]);
  assert_false(s.valid[1]);
  assert_true(s.valid[2]);
  assert_int_equal(s.row[0], 2);
  assert_int_equal(s.row[1], 3);
  assert_int_equal(s.row[2], 5);
  read_all("[]", INGEST_JSON_ARRAY, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 0);
}

static void test_ingest__json_array_broken(void **state) {
  static const char *const bad[] = {
      "[" REC("400001"),                    /* truncated */
      "[" REC("400001") " " REC("400001") "]", /* missing comma */
      "[" REC("400001") "] trailing",
      "[{\"date\":",
      "{}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct seen s;
    read_all(bad[i], INGEST_JSON_ARRAY, &s);
    assert_int_equal(s.rc, -1);
    assert_int_equal(s.err.code, GERR_INVALID_INPUT);
    assert_non_null(strstr(s.err.msg, "line 1"));
  }
  struct seen s;
  read_all("   \n ", INGEST_JSON_ARRAY, &s);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.err.msg, "empty"));
}

static void test_ingest__ndjson_keeps_going(void **state) {
  struct seen s;
  read_all(REC("400001") "\r\n\n{oops}\n" REC("1") "\n   \n" REC("560001"),
           INGEST_NDJSON, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 4);
  assert_true(s.valid[0]);
  assert_false(s.valid[1]); /* malformed line is one rejected record */
  assert_false(s.valid[2]);
  assert_true(s.valid[3]);
  assert_int_equal(s.row[1], 3);
  assert_int_equal(s.row[3], 6);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_ingest__detect),
      cmocka_unit_test(test_ingest__json_array_rows),
      cmocka_unit_test(test_ingest__json_array_broken),
      cmocka_unit_test(test_ingest__ndjson_keeps_going),
  };
  return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
