/* Exports of stored sales (src/domain/export.c): CSV, NDJSON and a JSON
 * array written page by page give every row once, with the header or
 * brackets once; an XLSX export reads back through the XLSX reader; the
 * format names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include <jansson.h>

#include "gromo/buf.h"
#include "gromo/export.h"
#include "gromo/store.h"
#include "gromo/tabular.h"
#include "gromo/timeutil.h"

#define ROWS 7

static char dir[TEST_TMPDIR_CAP], path[TEST_TMPDIR_CAP + 16];
static struct store *st;

static int setup(void **state) {
  struct gerr err;
  if (test_tmpdir("export", dir) < 0)
    return -1;
  snprintf(path, sizeof path, "%s/e.db", dir);
  if (store_open(path, &st, &err) < 0)
    return -1;
  struct sale s[ROWS];
  memset(s, 0, sizeof s);
  for (int i = 0; i < ROWS; i++) {
    s[i].ts_ms = days_from_civil(2026, 1, 1 + i) * DAY_MS + 3600000;
    s[i].pincode = 400001 + i;
    s[i].customer_age = 30 + i;
    s[i].customer_income = 50000.5 + i;
    snprintf(s[i].product, sizeof s[i].product, "loan");
    snprintf(s[i].channel, sizeof s[i].channel, i % 2 ? "online" : "offline");
    snprintf(s[i].city, sizeof s[i].city, "City \"%d\", here", i);
    snprintf(s[i].id, sizeof s[i].id, "exp-%d", i);
  }
  return store_sales_insert(st, s, ROWS, NULL, NULL, &err);
}

static int teardown(void **state) {
  store_close(st);
  st = NULL;
  test_tmpdir_remove(dir);
  return 0;
}

/* The whole export in pages of page_rows rows. */
static void export_all(enum export_format fmt, size_t page_rows, size_t limit,
                       struct buf *out) {
  struct sales_filter f;
  sales_filter_init(&f);
  f.limit = limit;
  struct export_cursor c;
  export_cursor_init(&c, fmt, &f, NULL);
  struct gerr err;
  buf_init(out, 1 << 20);
  for (int pages = 0; !c.done; pages++) {
    if (pages > 100)
      fail_msg("the export does not end");
    assert_int_equal(export_next_page(&c, st, page_rows, out, &err), 0);
  }
}

static size_t count_lines(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

static void test_export__csv_pages(void **state) {
  struct buf out;
  export_all(EXPORT_CSV, 3, 0, &out);
  assert_int_equal(count_lines(out.data), 1 + ROWS); /* header once */
  assert_int_equal(strncmp(out.data, "date,", 5), 0);
  assert_non_null(strstr(out.data, "\"City \"\"3\"\", here\"")); /* quoted CSV */
  buf_release(&out);
  export_all(EXPORT_CSV, 2, 4, &out); /* the limit bounds the whole export */
  assert_int_equal(count_lines(out.data), 1 + 4);
  buf_release(&out);
}

static void test_export__ndjson_and_json_read_back(void **state) {
  struct buf out;
  export_all(EXPORT_NDJSON, 2, 0, &out);
  assert_int_equal(count_lines(out.data), ROWS);
  const char *line = out.data;
  for (int i = 0; i < ROWS; i++) {
    const char *nl = strchr(line, '\n');
    json_error_t je;
    json_t *j = json_loadb(line, (size_t)(nl - line), 0, &je);
    if (!json_is_object(j))
      fail_msg("line %d is not an object: %s", i, je.text);
    json_decref(j);
    line = nl + 1;
  }
  buf_release(&out);
  export_all(EXPORT_JSON, 3, 0, &out);
  json_error_t je;
  json_t *a = json_loadb(out.data, out.len, 0, &je);
  if (!json_is_array(a))
    fail_msg("not a JSON array: %s", je.text);
  assert_int_equal(json_array_size(a), ROWS);
  json_t *first = json_array_get(a, 0);
  assert_string_equal(json_string_value(json_object_get(first, "pincode")), "400001");
  assert_string_equal(json_string_value(json_object_get(first, "id")), "exp-0");
  assert_string_equal(json_string_value(json_object_get(first, "city")), "City \"0\", here");
  json_decref(a);
  buf_release(&out);
  /* An empty selection is still a whole document. */
  struct sales_filter f;
  sales_filter_init(&f);
  f.pincode = 110001;
  struct export_cursor c;
  export_cursor_init(&c, EXPORT_JSON, &f, NULL);
  struct gerr err;
  buf_init(&out, 1 << 16);
  while (!c.done)
    assert_int_equal(export_next_page(&c, st, 10, &out, &err), 0);
  a = json_loadb(out.data, out.len, 0, &je);
  assert_true(json_is_array(a) && json_array_size(a) == 0);
  json_decref(a);
  buf_release(&out);
}

static int count_valid(void *ctx, size_t row, const struct sale *rec, int valid,
                       const struct sale_problems *pr) {
  size_t *n = ctx;
  *n += valid ? 1 : 0;
  return 0;
}

static void test_export__xlsx_reads_back(void **state) {
  char x[TEST_TMPDIR_CAP + 16];
  snprintf(x, sizeof x, "%s/e.xlsx", dir);
  struct sales_filter f;
  sales_filter_init(&f);
  struct gerr err;
  size_t rows = 0, valid = 0, read = 0;
  assert_int_equal(export_xlsx(st, &f, NULL, x, &rows, &err), 0);
  assert_int_equal(rows, ROWS);
  struct sale_rules rules = {.now_ist_ms = now_ist_ms()};
  assert_int_equal(xlsxrec_read(x, &rules, NULL, count_valid, &valid, &read, &err), 0);
  assert_int_equal(read, ROWS);
  assert_int_equal(valid, ROWS);
}

static void test_export__formats(void **state) {
  static const struct {
    const char *name, *ext;
    enum export_format f;
  } cases[] = {{"csv", "csv", EXPORT_CSV},
               {"ndjson", "ndjson", EXPORT_NDJSON},
               {"json", "json", EXPORT_JSON},
               {"xlsx", "xlsx", EXPORT_XLSX}};
  for (size_t i = 0; i < N_OF(cases); i++) {
    enum export_format f;
    assert_int_equal(export_format_parse(cases[i].name, &f), 0);
    assert_int_equal(f, cases[i].f);
    assert_non_null(export_content_type(f));
    assert_non_null(strstr(export_extension(f), cases[i].ext));
  }
  enum export_format f;
  assert_int_equal(export_format_parse("xml", &f), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_export__csv_pages),
      cmocka_unit_test(test_export__ndjson_and_json_read_back),
      cmocka_unit_test(test_export__xlsx_reads_back),
      cmocka_unit_test(test_export__formats),
  };
  return cmocka_run_group_tests_name("export", tests, setup, teardown);
}
