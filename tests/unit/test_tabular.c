/* src/ingest/columns.c, csvrec.c, xlsxrec.c, xlsrec.c: tabular files.
 * The fixtures come from tests/fixtures/make-fixtures.sh. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include <cmocka.h>

#include "gromo/tabular.h"
#include "ingest/tabular_int.h"
#include "gromo/timeutil.h"
#include "testutil.h"

/* "Now" for the records' dates (not more than a day in the future): fixed,
 * 2026-07-01 12:00 IST, so that nothing depends on the day the tests run. */
#define NOW_MS (days_from_civil(2026, 7, 1) * DAY_MS + 12 * 3600000LL)

#define FIX "tests/fixtures/"
#define MAX_SEEN 64

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* Everything a reading produced, and a transcript to compare readings. */
struct seen {
  size_t n;
  size_t row[MAX_SEEN];
  int valid[MAX_SEEN];
  struct sale rec[MAX_SEEN];
  struct sale_problems pr[MAX_SEEN];
  size_t stop_after; /* 0: never stop */
  int rc;
  struct gerr err;
  struct buf log;
};

static void seen_reset(struct seen *s) {
  buf_release(&s->log);
  size_t stop = s->stop_after;
  memset(s, 0, sizeof *s);
  s->stop_after = stop;
  buf_init(&s->log, 1 << 20);
}

static int collect(void *ctx, size_t row, const struct sale *rec, int valid,
                   const struct sale_problems *pr) {
  struct seen *s = ctx;
  char date[24] = "-";
  if (rec->ts_ms != INT64_MIN) /* absent */
    ist_format(rec->ts_ms, date);
  int ok = buf_printf(&s->log, "%zu %d %s %d %s %s %s %d %.2f %s %s |", row, valid,
                      date, (int)rec->pincode, rec->city, rec->product,
                      rec->channel, (int)rec->customer_age, rec->customer_income,
                      rec->agent_id, rec->id);
  for (int i = 0; i < pr->count && i < SALE_MAX_PROBLEMS; i++)
    ok |= buf_printf(&s->log, " %s: %s;", sale_field_name(pr->p[i].field),
                     pr->p[i].problem);
  ok |= buf_puts(&s->log, "\n");
  assert_int_equal(ok, 0);
  if (s->n < MAX_SEEN) {
    s->row[s->n] = row;
    s->valid[s->n] = valid;
    s->rec[s->n] = *rec;
    s->pr[s->n] = *pr;
  }
  s->n++;
  return s->stop_after && s->n >= s->stop_after;
}

static struct seen *seen_new(void) {
  struct seen *s = calloc(1, sizeof *s);
  assert_non_null(s);
  seen_reset(s);
  return s;
}

static void seen_free(struct seen *s) {
  buf_release(&s->log);
  free(s);
}

static const struct sale_rules *rules(void) {
  static struct sale_rules r;
  r.now_ist_ms = NOW_MS;
  return &r;
}

static char *load(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  struct buf b;
  buf_init(&b, 64u << 20);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
    assert_int_equal(buf_append(&b, chunk, n), 0);
  fclose(f);
  *len = b.len;
  char *data = buf_detach(&b, len);
  return data ? data : calloc(1, 1);
}

/* Feeds text[n] in chunks of the size given (0: all at once). */
static void read_csv(const char *text, size_t n, size_t chunk,
                     const struct tab_limits *lim, struct seen *s) {
  struct csvrec *c = NULL;
  seen_reset(s);
  assert_int_equal(csvrec_new(rules(), lim, collect, s, &c, &s->err), 0);
  if (chunk == 0)
    chunk = n ? n : 1;
  s->rc = 0;
  for (size_t off = 0; off < n && s->rc == 0; off += chunk)
    s->rc = csvrec_feed(c, text + off, n - off < chunk ? n - off : chunk, &s->err);
  if (s->rc == 0)
    s->rc = csvrec_finish(c, &s->err);
  assert_int_equal(csvrec_rows(c), s->n);
  csvrec_free(c);
}

static void read_csv_str(const char *text, const struct tab_limits *lim,
                         struct seen *s) {
  read_csv(text, strlen(text), 0, lim, s);
}

static void read_csv_file(const char *name, const struct tab_limits *lim,
                          struct seen *s) {
  size_t n;
  char *text = load(name, &n);
  read_csv(text, n, 0, lim, s);
  free(text);
}

static int has_problem(const struct seen *s, size_t i, enum sale_field f,
                       const char *part) {
  for (int k = 0; k < s->pr[i].count && k < SALE_MAX_PROBLEMS; k++)
    if (s->pr[i].p[k].field == f && strstr(s->pr[i].p[k].problem, part))
      return 1;
  return 0;
}

static void assert_date(const struct sale *rec, const char *want) {
  char date[24];
  ist_format(rec->ts_ms, date);
  assert_string_equal(date, want);
}

static void assert_error(const struct seen *s, const char *part) {
  assert_int_equal(s->rc, -1);
  assert_int_equal(s->err.code, GERR_INVALID_INPUT);
  if (!strstr(s->err.msg, part))
    fail_msg("error \"%s\" does not say \"%s\"", s->err.msg, part);
}

#define H "date,pincode,city,product,channel,agent_id,customer_age,customer_income,id\n"
#define ROW(pin) "2025-01-15 10:30:00," pin ",Mumbai,loan,online,,35,42500,\n"

/* ---- columns ---------------------------------------------------------- */

static void test_columns__names_and_aliases(void **state) {
  static const struct {
    const char *name;
    int field;
  } cases[] = {
      {"date", SF_DATE},          {" Sale Date ", SF_DATE},
      {"TRANSACTION-DATE", SF_DATE}, {"created_at", SF_DATE},
      {"PIN Code", SF_PINCODE},   {"zipcode", SF_PINCODE},
      {"postal_code", SF_PINCODE}, {"Town", SF_CITY},
      {"district", SF_CITY},      {"Product_Name", SF_PRODUCT},
      {"category", SF_PRODUCT},   {"Sales Channel", SF_CHANNEL},
      {"mode", SF_CHANNEL},       {"Agent ID", SF_AGENT_ID},
      {"agent_uuid", SF_AGENT_ID}, {"Customer Age", SF_CUSTOMER_AGE},
      {"cust_age", SF_CUSTOMER_AGE}, {"salary", SF_CUSTOMER_INCOME},
      {"Monthly-Income", SF_CUSTOMER_INCOME}, {"txn_id", SF_ID},
      {"Record ID", SF_ID},       {"\xEF\xBB\xBF" "date", SF_DATE},
      {"dates", -1},              {"name", -1},
      {"", -1},                   {"a very long column name that is no field", -1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    if (tab_field_for_name(cases[i].name, strlen(cases[i].name)) != cases[i].field)
      fail_msg("\"%s\" should map to %d", cases[i].name, cases[i].field);
}

static void test_columns__excel_serial_dates(void **state) {
  static const struct {
    double serial;
    int date1904;
    const char *want; /* NULL: out of range */
  } cases[] = {
      {1, 0, "1900-01-01 00:00:00"},
      {59, 0, "1900-02-28 00:00:00"},
      {60, 0, "1900-02-29 00:00:00"}, /* the phantom leap day */
      {61, 0, "1900-03-01 00:00:00"},
      {36526, 0, "2000-01-01 00:00:00"},
      {45672, 0, "2025-01-15 00:00:00"},
      {45672.4375, 0, "2025-01-15 10:30:00"},
      {45672.75, 0, "2025-01-15 18:00:00"},
      {45657.9999884259, 0, "2024-12-31 23:59:59"},
      {45672 + 1.5 / 86400, 0, "2025-01-15 00:00:01.500"},
      {45672.99999999, 0, "2025-01-15 23:59:59.999"},
      {45672.999999999, 0, "2025-01-16 00:00:00"}, /* rounds to the next day */
      {2958465.99998, 0, "9999-12-31 23:59:58.272"},
      {0, 1, "1904-01-01 00:00:00"},
      {1, 1, "1904-01-02 00:00:00"},
      {44209.4375, 1, "2025-01-14 10:30:00"},
      {44210.999988426, 1, "2025-01-15 23:59:59"},
      {-1, 0, NULL},
      {2958466, 0, NULL},
      {NAN, 0, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[24];
    int n = tab_excel_date(cases[i].serial, cases[i].date1904, out);
    if (!cases[i].want) {
      assert_int_equal(n, -1);
      continue;
    }
    assert_int_equal(n, (int)strlen(cases[i].want));
    assert_string_equal(out, cases[i].want);
  }
}

static void test_columns__numbers_as_shown(void **state) {
  static const struct {
    double v;
    const char *want;
  } cases[] = {
      {400001, "400001"}, {35, "35"}, {75000.5, "75000.5"},
      {0.1 + 0.2, "0.3"}, {35.000000000000007, "35"}, {-0.0, "0"},
      {1e20, "100000000000000000000"}, {0.00001234, "0.00001234"},
      {-2.5, "-2.5"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[48];
    size_t n = tab_number_text(cases[i].v, out);
    assert_int_equal(n, strlen(cases[i].want));
    assert_string_equal(out, cases[i].want);
  }
}

/* ---- CSV: the fixtures ------------------------------------------------ */

static void test_csv__basic_fixture(void **state) {
  struct seen *s = seen_new();
  read_csv_file(FIX "csv_basic.csv", NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 5);
  static const int valid[] = {1, 1, 0, 1, 0};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(s->row[i], i + 2);
    assert_int_equal(s->valid[i], valid[i]);
  }
  assert_date(&s->rec[0], "2025-01-15 10:30:00");
  assert_int_equal(s->rec[0].pincode, 400001);
  assert_string_equal(s->rec[0].agent_id, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  assert_string_equal(s->rec[0].id, "B-1");
  assert_true(s->rec[1].customer_income == 55000.5);
  assert_string_equal(s->rec[1].city, "New Delhi");
  assert_true(has_problem(s, 2, SF_PINCODE, "6 digits"));
  assert_true(has_problem(s, 2, SF_CUSTOMER_AGE, ""));
  assert_int_equal(s->pr[2].count, 2);
  assert_string_equal(s->rec[3].product, "insurance");
  assert_string_equal(s->rec[3].channel, "offline");
  assert_string_equal(s->rec[3].city, "");
  assert_true(has_problem(s, 4, SF_DATE, "future"));
  seen_free(s);
}

static void test_csv__quoted_newlines(void **state) {
  struct seen *s = seen_new();
  read_csv_file(FIX "csv_quoted.csv", NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 3);
  /* row 2 spans three lines; the blank line is row 3 */
  assert_int_equal(s->row[0], 2);
  assert_int_equal(s->row[1], 4);
  assert_int_equal(s->row[2], 5);
  for (size_t i = 0; i < 3; i++)
    assert_true(s->valid[i]);
  assert_string_equal(s->rec[0].city, "Mumbai, Maharashtra");
  assert_true(s->rec[0].customer_income == 25000);
  assert_true(s->rec[1].customer_income == 100000);
  assert_string_equal(s->rec[1].channel, "branch");
  assert_string_equal(s->rec[2].city, "Pune \"East\"");
  assert_string_equal(s->rec[2].id, "Q-3");
  seen_free(s);
}

static void test_csv__semicolons_bom_aliases(void **state) {
  struct seen *s = seen_new();
  read_csv_file(FIX "csv_semicolon_bom.csv", NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 3);
  assert_true(s->valid[0]);
  assert_string_equal(s->rec[0].id, "S-1");
  assert_date(&s->rec[0], "2025-04-01 00:00:00");
  assert_string_equal(s->rec[0].city, "\xE0\xA4\xAE\xE0\xA5\x81\xE0\xA4\x82\xE0\xA4\xAC\xE0\xA4\x88");
  assert_int_equal(s->rec[0].customer_age, 35);
  assert_true(s->rec[0].customer_income == 100000);
  assert_true(s->valid[1]);
  assert_true(s->rec[1].customer_income == 75000.5);
  assert_false(s->valid[2]);
  assert_int_equal(s->row[2], 4);
  assert_true(has_problem(s, 2, SF_CUSTOMER_AGE, "integer"));
  seen_free(s);
}

static void test_csv__tabs_and_more_aliases(void **state) {
  struct seen *s = seen_new();
  read_csv_file(FIX "csv_tab.tsv", NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 2);
  assert_true(s->valid[0] && s->valid[1]);
  assert_string_equal(s->rec[0].agent_id, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  assert_string_equal(s->rec[1].agent_id, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  assert_string_equal(s->rec[0].city, "Hyderabad");
  assert_int_equal(s->rec[1].pincode, 500002);
  assert_true(s->rec[1].customer_income == 21000);
  seen_free(s);
}

static void test_csv__invalid_utf8_rejects_the_row(void **state) {
  struct seen *s = seen_new();
  read_csv_file(FIX "csv_bad_utf8.csv", NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 3);
  assert_true(s->valid[0]); /* Latin-1 in an ignored column */
  assert_false(s->valid[1]);
  assert_true(has_problem(s, 1, SF_CITY, "UTF-8"));
  assert_false(s->valid[2]);
  assert_true(has_problem(s, 2, SF_PRODUCT, "UTF-8"));
  seen_free(s);
}

static void test_csv__empty_header_only_wrong_columns(void **state) {
  struct seen *s = seen_new();
  read_csv_file(FIX "csv_empty.csv", NULL, s);
  assert_error(s, "the file is empty");
  read_csv_str("\xEF\xBB\xBF\r\n \n\t\n", NULL, s);
  assert_error(s, "the file is empty");
  read_csv_str(",,,\n;;\n", NULL, s);
  assert_error(s, "the file is empty");

  read_csv_file(FIX "csv_header_only.csv", NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 0);
  read_csv_str("date,pincode,product,channel,age,income", NULL, s); /* no EOL */
  assert_int_equal(s->rc, 0);

  read_csv_file(FIX "csv_wrong_columns.csv", NULL, s);
  assert_error(s, "missing columns: product, channel, customer_age, customer_income");
  assert_error(s, "found: name, email, phone, date, pin");
  assert_int_equal(s->n, 0);

  read_csv_str("2025-01-01,400001,loan,online,30,1000\n", NULL, s);
  assert_error(s, "row 1 is not a header row");
  seen_free(s);
}

static void test_csv__duplicate_column(void **state) {
  struct seen *s = seen_new();
  read_csv_str("date,pincode,product,pin,channel,age,income\n", NULL, s);
  assert_error(s, "columns 2 and 4 both give pincode");
  read_csv_str("\n\nDate,Sale Date,pincode,product,channel,age,income\n", NULL, s);
  assert_error(s, "header row (row 3)");
  assert_error(s, "both give date");
  seen_free(s);
}

static void test_csv__binary_garbage(void **state) {
  struct seen *s = seen_new();
  read_csv_file(FIX "garbage.bin", NULL, s);
  assert_error(s, "not a CSV file");
  read_csv_file(FIX "xlsx_sales.xlsx", NULL, s);
  assert_error(s, "XLSX");
  read_csv_file(FIX "xls_sales.xls", NULL, s);
  assert_error(s, "XLS file");
  read_csv_str("\xFF\xFEh\0", NULL, s);
  assert_error(s, "UTF-16");
  read_csv_str("\x01\x02\x03 garbage\n", NULL, s);
  assert_error(s, "not a CSV file");
  /* a NUL byte after good rows */
  static const char nul[] = H ROW("400001") ROW("40\0002") ROW("400003");
  read_csv(nul, sizeof nul - 1, 0, NULL, s);
  assert_error(s, "row 3: not a CSV file");
  assert_int_equal(s->n, 1);
  seen_free(s);
}

static void test_csv__truncated_inside_quotes(void **state) {
  struct seen *s = seen_new();
  read_csv_file(FIX "csv_truncated.csv", NULL, s);
  assert_error(s, "row 3: the file ends inside a quoted cell");
  assert_int_equal(s->n, 1);
  assert_true(s->valid[0]);
  seen_free(s);
}

/* ---- CSV: shapes of rows ---------------------------------------------- */

static void test_csv__delimiter_detection(void **state) {
  static const struct {
    const char *text;
    size_t rows;
  } cases[] = {
      {"date,pincode,product,channel,age,income\n2025-01-01,400001,loan,online,30,\"1,000\"\n", 1},
      {"date;pincode;product;channel;age;income\n2025-01-01;400001;loan;online;30;1,000\n", 1},
      {"date\tpincode\tproduct\tchannel\tage\tincome\n2025-01-01\t400001\tloan\tonline\t30\t1000\n", 1},
      {"date|pincode|product|channel|age|income\n2025-01-01|400001|loan|online|30|1000\n", 1},
      /* commas inside the names do not fool it: ';' splits more known names */
      {"Date (IST, local);pincode;product;channel;age;income;date\n2025-01-01;400001;loan;online;30;1000;2025-01-01\n", 1},
      {"\"date\",\"pincode\",\"product\",\"channel\",\"age\",\"income\"\r\n\"2025-01-01\",\"400001\",\"loan\",\"online\",\"30\",\"1000\"\r\n", 1},
  };
  struct seen *s = seen_new();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    read_csv_str(cases[i].text, NULL, s);
    if (s->rc != 0)
      fail_msg("case %zu: %s", i, s->err.msg);
    assert_int_equal(s->n, cases[i].rows);
    if (!s->valid[0])
      fail_msg("case %zu: %s", i, (const char *)s->log.data);
    assert_true(s->rec[0].customer_income == 1000);
  }
  seen_free(s);
}

static void test_csv__column_order_extra_and_missing_cells(void **state) {
  struct seen *s = seen_new();
  read_csv_str("Income , Notes, AGE,channel,Product,PIN,Sale_Date\n"
               "1000,x,30,online,loan,400001,2025-01-01,extra,cells\n"
               "1000,x,30,online,loan\n",
               NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 2);
  assert_true(s->valid[0]);
  assert_int_equal(s->rec[0].pincode, 400001);
  assert_false(s->valid[1]);
  assert_true(has_problem(s, 1, SF_PINCODE, "is required"));
  assert_true(has_problem(s, 1, SF_DATE, "is required"));
  assert_int_equal(s->pr[1].count, 2);
  seen_free(s);
}

static void test_csv__blank_rows_and_crlf_count(void **state) {
  struct seen *s = seen_new();
  read_csv_str("\r\n" H "\r\n" ROW("400001") ",,,,,,,,\r\n   \r\n" ROW("400002"), NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 2);
  assert_int_equal(s->row[0], 4);
  assert_int_equal(s->row[1], 7);
  /* old Mac line ends */
  read_csv_str("date,pincode,product,channel,age,income\r2025-01-01,400001,loan,online,30,1\r\r2025-01-01,400002,loan,online,30,1",
               NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 2);
  assert_int_equal(s->row[1], 4);
  /* ... in a file longer than the longest row */
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_row = 60;
  struct buf b;
  buf_init(&b, 1 << 16);
  assert_int_equal(buf_puts(&b, "date,pincode,product,channel,age,income\r"), 0);
  for (int i = 0; i < 100; i++)
    assert_int_equal(buf_puts(&b, "2025-01-01,400001,loan,online,30,1\r"), 0);
  read_csv(b.data, b.len, 7, &lim, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 100);
  assert_int_equal(s->row[MAX_SEEN - 1], MAX_SEEN + 1);
  buf_release(&b);
  seen_free(s);
}

static void test_csv__cell_too_long(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_cell = 16;
  struct seen *s = seen_new();
  read_csv_str(H "2025-01-15,400001,Navi Mumbai East Side,loan,online,,35,1000,\n"
                 "2025-01-15,400001,Thane,loan,online,,35,1000,\n"
                 "2025-01-15,400001,Thane,loan,online,,35,1000,,a cell of thirty bytes........\n",
               &lim, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 3);
  assert_false(s->valid[0]);
  assert_true(has_problem(s, 0, SF_CITY, "longer than the limit of 16 bytes"));
  assert_int_equal(s->pr[0].count, 1);
  assert_true(s->valid[1]);
  assert_false(s->valid[2]);
  assert_true(has_problem(s, 2, SF_RECORD, "column 10 is longer than the limit of 16 bytes"));
  seen_free(s);
}

/* A cell far larger than one slice of input is cut short while streaming,
 * quoted or not, and so is a row of many cells or with a cell larger than
 * the row limit; the reading goes on. */
static void test_csv__huge_cell_streamed(void **state) {
  size_t big = 512u << 10, huge = 3u << 20;
  struct buf b;
  buf_init(&b, big * 2 + huge + (4u << 20));
  assert_int_equal(buf_puts(&b, H "2025-01-15,400001,\""), 0);
  for (size_t i = 0; i < big; i += 8)
    assert_int_equal(buf_append(&b, "ab\"\"cd\n ", 8), 0);
  assert_int_equal(buf_puts(&b, "\"  ,loan,online,,35,1000,\n2025-01-15,400001,"), 0);
  for (size_t i = 0; i < big; i += 8)
    assert_int_equal(buf_append(&b, "abcdefg ", 8), 0);
  /* then a good row with 40 extra cells of 60,000 bytes each */
  assert_int_equal(buf_puts(&b, ",loan,online,,35,1000,\n2025-01-15,400001,Thane,loan,online,,35,1000,"), 0);
  for (size_t k = 0; k < 40; k++) {
    assert_int_equal(buf_puts(&b, ","), 0);
    for (size_t i = 0; i < 60000; i += 6)
      assert_int_equal(buf_append(&b, "xyzxyz", 6), 0);
  }
  /* a city of 3 MiB: longer than the row limit */
  assert_int_equal(buf_puts(&b, "\n2025-01-15,400001,\""), 0);
  for (size_t i = 0; i < huge; i += 8)
    assert_int_equal(buf_append(&b, "ab,cd,  ", 8), 0);
  assert_int_equal(buf_puts(&b, "\",loan,online,,35,1000,"), 0);
  assert_int_equal(buf_puts(&b, "\n" ROW("400002")), 0);
  struct seen *s = seen_new();
  read_csv(b.data, b.len, 100000, NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 5);
  assert_false(s->valid[0]);
  assert_true(has_problem(s, 0, SF_CITY, "limit of 65536 bytes"));
  assert_int_equal(s->pr[0].count, 1);
  assert_string_equal(s->rec[0].product, "loan");
  assert_false(s->valid[1]);
  assert_true(has_problem(s, 1, SF_CITY, "limit of 65536 bytes"));
  assert_false(s->valid[2]);
  assert_int_equal(s->pr[2].count, 1);
  assert_true(has_problem(s, 2, SF_RECORD, "row is longer than the limit of 1048576 bytes"));
  assert_false(s->valid[3]);
  assert_int_equal(s->pr[3].count, 1);
  assert_true(has_problem(s, 3, SF_RECORD, "row is longer than the limit of 1048576 bytes"));
  assert_true(s->valid[4]);
  assert_int_equal(s->row[4], 6);
  buf_release(&b);
  seen_free(s);
}

static void test_csv__row_too_long(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_row = 80; /* the header row has 74 bytes */
  struct seen *s = seen_new();
  read_csv_str(H ROW("400001")
               "2025-01-15 10:30:00,400002,Mumbai,loan,online,,35,42500,,10,11,12,13,14,15,16,17,18\n"
               ROW("400003"),
               &lim, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 3);
  assert_true(s->valid[0]);
  assert_false(s->valid[1]);
  assert_int_equal(s->pr[1].count, 1);
  assert_true(has_problem(s, 1, SF_RECORD, "row is longer than the limit of 80 bytes"));
  assert_true(s->valid[2]);
  /* the header row has the row limit too */
  lim.max_row = 64;
  read_csv_str(H ROW("400001"), &lim, s);
  assert_error(s, "no header row in the first 64 bytes (the row limit)");
  assert_int_equal(s->n, 0);
  seen_free(s);
}

static void test_csv__too_many_rows(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_rows = 2;
  struct seen *s = seen_new();
  read_csv_str(H ROW("400001") ROW("400002") "\n" ROW("400003"), &lim, s);
  assert_error(s, "row 5: the file has more than 2 data rows, the limit");
  assert_int_equal(s->n, 2);
  seen_free(s);
}

static void test_csv__callback_stops(void **state) {
  struct seen *s = seen_new();
  s->stop_after = 1;
  struct csvrec *c = NULL;
  assert_int_equal(csvrec_new(rules(), NULL, collect, s, &c, &s->err), 0);
  const char text[] = H ROW("400001") ROW("400002");
  assert_int_equal(csvrec_feed(c, text, sizeof text - 1, &s->err), -2);
  assert_int_equal(csvrec_feed(c, text, 1, &s->err), -2);
  assert_int_equal(csvrec_finish(c, &s->err), -2);
  assert_int_equal(s->n, 1);
  csvrec_free(c);
  seen_free(s);
}

/* Every chunk size gives the very same records, problems and errors. */
static void test_csv__every_chunk_size_same_result(void **state) {
  static const char *const files[] = {
      FIX "csv_basic.csv",       FIX "csv_quoted.csv",  FIX "csv_semicolon_bom.csv",
      FIX "csv_tab.tsv",         FIX "csv_bad_utf8.csv", FIX "csv_truncated.csv",
      FIX "csv_wrong_columns.csv",
  };
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_cell = 20; /* so that the cell limit is crossed too */
  struct seen *whole = seen_new(), *part = seen_new();
  for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
    size_t n;
    char *text = load(files[f], &n);
    for (int l = 0; l < 2; l++) {
      const struct tab_limits *lp = l ? &lim : NULL;
      read_csv(text, n, 0, lp, whole);
      for (size_t chunk = 1; chunk <= n; chunk++) {
        read_csv(text, n, chunk, lp, part);
        assert_int_equal(part->rc, whole->rc);
        assert_int_equal(part->n, whole->n);
        assert_string_equal(part->err.msg, whole->err.msg);
        if (strcmp(part->log.data ? part->log.data : "",
                   whole->log.data ? whole->log.data : "") != 0)
          fail_msg("%s in chunks of %zu:\n%s\nwhole:\n%s", files[f], chunk,
                   part->log.data, whole->log.data);
      }
    }
    free(text);
  }
  seen_free(whole);
  seen_free(part);
}

/* ---- CSV: found by tests/fuzz/fuzz_csv.c ---------------------------------
 * Uploads arrive in pieces of any size; a reading must not depend on them. */

/* Reads text whole (left in *s), then in pieces of 1 to 17 bytes and of a
 * few larger sizes: every reading must give the same records and end. */
static void read_csv_every_way(const char *text, size_t n, const struct tab_limits *lim,
                               struct seen *s) {
  static const size_t sizes[] = {1,  2,  3,  4,  5,  6,  7,    8,    9,     10,   11,
                                 12, 13, 14, 15, 16, 17, 64, 1000, 4097, 65536, 65537};
  struct seen *part = seen_new();
  part->stop_after = s->stop_after;
  read_csv(text, n, 0, lim, s);
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    read_csv(text, n, sizes[i], lim, part);
    if (part->rc != s->rc || part->n != s->n || strcmp(part->err.msg, s->err.msg) ||
        strcmp(part->log.data ? part->log.data : "", s->log.data ? s->log.data : ""))
      fail_msg("in pieces of %zu: rc %d, %s\n%s\nwhole: rc %d, %s\n%s", sizes[i], part->rc,
               part->err.msg, (const char *)part->log.data, s->rc, s->err.msg,
               (const char *)s->log.data);
  }
  seen_free(part);
}

#define SHORT_H "date,pincode,product,channel,customer_age,customer_income\n" /* 57 bytes */
#define SHORT_ROW(pin) "2025-01-15," pin ",loan,online,35,42500\n"

/* A first piece longer than the row limit (plus 4 KiB) was refused as
 * having no header row, though the header row was short. */
static void test_csv__first_piece_of_any_size(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_row = 100;
  struct buf b;
  buf_init(&b, 1 << 20);
  assert_int_equal(buf_puts(&b, SHORT_H), 0);
  for (int i = 0; i < 200; i++)
    assert_int_equal(buf_puts(&b, SHORT_ROW("400001")), 0);
  struct seen *s = seen_new();
  read_csv_every_way(b.data, b.len, &lim, s);
  if (s->rc != 0)
    fail_msg("%s", s->err.msg);
  assert_int_equal(s->n, 200);
  buf_release(&b);
  seen_free(s);
}

/* A header row over the row limit was read when it came whole and refused
 * when it came in pieces; a header row that libcsv reads past its line (a
 * quote inside a cell) lost the text of its cells in pieces. Both are now
 * refused, however they come. */
static void test_csv__header_row_over_the_limit(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_row = 48;
  struct seen *s = seen_new();
  const char long_line[] = SHORT_H SHORT_ROW("400001");
  read_csv_every_way(long_line, sizeof long_line - 1, &lim, s);
  assert_error(s, "no header row in the first 48 bytes (the row limit)");
  const char quoted[] = "\"date\"x,pincode,product\n"
                        "channel,customer_age,customer_income,more,more,more\"\n" SHORT_ROW("400001");
  read_csv_every_way(quoted, sizeof quoted - 1, &lim, s);
  assert_error(s, "the header row (row 1) is longer than the limit of 48 bytes");
  assert_int_equal(s->n, 0);
  seen_free(s);
}

/* The first cell of the row after a long one was blamed for the length of
 * that row when a piece ended inside it. */
static void test_csv__row_after_a_long_row(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_row = 48;
  struct seen *s = seen_new();
  const char text[] = "pin,date,product,channel,age,income\n"
                      "400001,2025-01-15,loan,online,35,42500,and,a,few,more,cells\n"
                      "400002,2025-01-15,loan,online,35,42500\n"
                      "400003,2025-01-15,loan,online,35,42500\n";
  read_csv_every_way(text, sizeof text - 1, &lim, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 3);
  assert_false(s->valid[0]);
  assert_true(has_problem(s, 0, SF_RECORD, "row is longer than the limit of 48 bytes"));
  assert_true(s->valid[1]);
  assert_true(s->valid[2]);
  seen_free(s);
}

/* A cell cut short while streaming did not count toward the row limit, so
 * the same row was too long or not depending on the pieces. */
static void test_csv__cut_cells_count_toward_the_row(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_cell = 10; /* header names are still kept up to 256 bytes */
  lim.max_row = 400;
  struct buf b;
  buf_init(&b, 1 << 20);
  assert_int_equal(buf_puts(&b, "pin,date,product,channel,age,income,notes,more\n"), 0);
  for (int k = 0; k < 2; k++) { /* 342 bytes, then 441 */
    assert_int_equal(buf_puts(&b, "400001,2025-01-15,loan,online,35,42500,"), 0);
    for (int i = 0; i < 300; i++)
      assert_int_equal(buf_append(&b, "n", 1), 0);
    assert_int_equal(buf_puts(&b, k ? ",1234567890123456789012345678901234567890123456789012345678901234567890"
                                     "123456789012345678901234567890\n"
                                   : ",x\n"), 0);
  }
  struct seen *s = seen_new();
  read_csv_every_way(b.data, b.len, &lim, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 2);
  assert_true(has_problem(s, 0, SF_RECORD, "the cell in column 7 is longer than the limit of 10 bytes"));
  assert_int_equal(s->pr[0].count, 1);
  assert_true(has_problem(s, 1, SF_RECORD, "row is longer than the limit of 400 bytes"));
  buf_release(&b);
  seen_free(s);
}

/* Spaces after a cell's text are trimmed by libcsv when the cell ends, and
 * are text when more follows; a long run of them is set aside while
 * streaming, so memory stays bounded and the result is the same. */
static void test_csv__long_runs_of_spaces(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_cell = 10;
  lim.max_row = 2000;
  /* "Thane" and 600 spaces, then: the cell's end; more text (after a
   * closing quote, libcsv keeps the quote and reads on inside quotes); a
   * quote after the closing one (both kept as text) */
  static const char *const cities[] = {"Thane", "\"Thane\"", "Thane", "\"Thane\"", "\"Thane\""};
  static const char *const after[] = {",", ",", "x,", "x\",", "\" ,"};
  struct buf b;
  buf_init(&b, 1 << 20);
  assert_int_equal(buf_puts(&b, "pin,date,product,channel,age,income,city,notes\n"), 0);
  for (int k = 0; k < 5; k++) {
    assert_int_equal(buf_printf(&b, "400001,2025-01-15,loan,online,35,42500,%s", cities[k]), 0);
    for (int i = 0; i < 600; i++)
      assert_int_equal(buf_append(&b, " ", 1), 0);
    assert_int_equal(buf_printf(&b, "%sok\n", after[k]), 0);
  }
  struct seen *s = seen_new();
  read_csv_every_way(b.data, b.len, &lim, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 5);
  for (int k = 0; k < 2; k++) {
    if (!s->valid[k])
      fail_msg("%s", (const char *)s->log.data);
    assert_string_equal(s->rec[k].city, "Thane");
  }
  for (int k = 2; k < 5; k++)
    assert_true(has_problem(s, (size_t)k, SF_CITY, "longer than the limit of 10 bytes"));
  buf_release(&b);
  seen_free(s);
}

/* When the header line was only found at the end of the input (a quote
 * in it kept it open) and the callback stopped the reading there,
 * csvrec_finish said -1 with no message instead of -2. */
static void test_csv__stopped_at_the_end(void **state) {
  struct seen *s = seen_new();
  s->stop_after = 1;
  const char text[] = "date,pincode,product,channel,customer_age,customer_income,no\"tes\n"
                      "2025-01-15,400001,loan,online,35,42500,a\n"
                      "2025-01-15,400002,loan,online,35,42500,b\n";
  read_csv_every_way(text, sizeof text - 1, NULL, s);
  assert_int_equal(s->rc, -2);
  assert_int_equal(s->n, 1);
  seen_free(s);
}

static int count_only(void *ctx, size_t row, const struct sale *rec, int valid,
                      const struct sale_problems *pr) {
  size_t *counts = ctx;
  counts[valid ? 0 : 1]++;
  return 0;
}

/* Prints the rows per second of parsing and validating; asserts nothing
 * about speed. Smaller and skipped in sanitized builds or when
 * GROMO_SKIP_SLOW is set. */
static void test_csv__speed(void **state) {
  if (getenv("GROMO_SKIP_SLOW")) {
    print_message("skipped (GROMO_SKIP_SLOW)\n");
    return;
  }
  const size_t block_rows = 10000, blocks = SANITIZED ? 5 : 100;
  struct buf b;
  buf_init(&b, 8u << 20);
  static const char *const cities[] = {"Mumbai", "New Delhi", "Bengaluru", "Pune", ""};
  static const char *const products[] = {"personal_loan", "credit_card", "insurance", "gold_loan"};
  for (size_t i = 0; i < block_rows; i++)
    assert_int_equal(
        buf_printf(&b,
                   "2025-%02zu-%02zu %02zu:%02zu:%02zu,%zu,%s,%s,%s,"
                   "3f2504e0-4f89-11d3-9a0c-%012zx,%zu,%zu.50,S-%07zu\n",
                   1 + i % 12, 1 + i % 28, i % 24, i % 60, (i * 7) % 60,
                   110001 + (i * 37) % 800000, cities[i % 5], products[i % 4],
                   i % 3 ? "online" : "offline", i, 18 + i % 60,
                   10000 + (i * 131) % 200000, i),
        0);
  size_t counts[2] = {0, 0};
  struct csvrec *c = NULL;
  struct gerr err;
  assert_int_equal(csvrec_new(rules(), NULL, count_only, counts, &c, &err), 0);
  int64_t t0 = mono_us();
  assert_int_equal(csvrec_feed(c, H, strlen(H), &err), 0);
  for (size_t k = 0; k < blocks; k++)
    for (size_t off = 0; off < b.len; off += 65536)
      assert_int_equal(csvrec_feed(c, b.data + off, b.len - off < 65536 ? b.len - off : 65536, &err), 0);
  assert_int_equal(csvrec_finish(c, &err), 0);
  int64_t us = mono_us() - t0;
  size_t rows = block_rows * blocks;
  assert_int_equal(counts[0], rows);
  assert_int_equal(counts[1], 0);
  print_message("CSV: %zu rows (%.1f MB) in %.3f s: %.0f rows/s%s\n", rows,
                (double)b.len * blocks / 1e6, us / 1e6, rows / (us / 1e6),
                SANITIZED ? " (sanitized build)" : "");
  csvrec_free(c);
  buf_release(&b);
}

/* ---- XLSX ------------------------------------------------------------- */

static void read_xlsx(const char *path, const struct tab_limits *lim, struct seen *s) {
  seen_reset(s);
  size_t rows = 0;
  s->rc = xlsxrec_read(path, rules(), lim, collect, s, &rows, &s->err);
  assert_int_equal(rows, s->n);
}

static void read_xls(const char *path, const struct tab_limits *lim, struct seen *s) {
  seen_reset(s);
  size_t rows = 0;
  s->rc = xlsrec_read(path, rules(), lim, collect, s, &rows, &s->err);
  assert_int_equal(rows, s->n);
}

/* sales.csv of make-fixtures.sh, as LibreOffice saved it. freexl does not
 * read the results of formulas: in XLS those cells are empty. */
static void check_sales_workbook(const struct seen *s, int formulas) {
  if (s->rc != 0)
    fail_msg("%s", s->err.msg);
  assert_int_equal(s->n, 5);
  static const size_t rows[] = {2, 3, 4, 5, 7};
  static const int valid[] = {1, 1, 1, 0, 1};
  for (size_t i = 0; i < 5; i++) {
    assert_int_equal(s->row[i], rows[i]);
    if (s->valid[i] != (valid[i] && (formulas || i > 1)))
      fail_msg("row %zu: %s", rows[i], (const char *)s->log.data);
  }
  if (!formulas) {
    assert_true(has_problem(s, 0, SF_CUSTOMER_INCOME, "is required"));
    assert_int_equal(s->pr[0].count, 1);
    assert_string_equal(s->rec[2].id, "");
  }
  assert_date(&s->rec[0], "2025-01-15 10:30:00");
  assert_int_equal(s->rec[0].pincode, 400001);
  assert_string_equal(s->rec[0].city, "Mumbai");
  assert_string_equal(s->rec[0].product, "personal_loan");
  assert_string_equal(s->rec[0].agent_id, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
  assert_int_equal(s->rec[0].customer_age, 35);
  if (formulas) {
    assert_true(s->rec[0].customer_income == 42500); /* =40000+2500 */
    assert_string_equal(s->rec[0].id, "S-2");         /* ="S-"&ROW() */
    assert_true(s->rec[1].customer_income == 55000);
    assert_string_equal(s->rec[1].id, "S-3");
    assert_string_equal(s->rec[2].id, "S-4");
  }
  assert_date(&s->rec[1], "2025-01-16 00:00:00");
  assert_date(&s->rec[2], "2025-01-15 18:00:00"); /* a bare serial number */
  assert_true(s->rec[2].customer_income == 38000.5);
  assert_true(has_problem(s, 3, SF_PINCODE, "6 digits"));
  assert_true(has_problem(s, 3, SF_CUSTOMER_AGE, "18"));
  assert_int_equal(s->pr[3].count, 2);
  assert_date(&s->rec[4], "2024-12-31 23:59:59");
  assert_string_equal(s->rec[4].channel, "offline");
  assert_string_equal(s->rec[4].id, "");
}

static void test_xlsx__sales_fixture(void **state) {
  struct seen *s = seen_new();
  read_xlsx(FIX "xlsx_sales.xlsx", NULL, s);
  check_sales_workbook(s, 1);
  seen_free(s);
}

static void test_xlsx__date_systems_and_cell_kinds(void **state) {
  struct seen *s = seen_new();
  read_xlsx(FIX "xlsx_1904.xlsx", NULL, s);
  if (s->rc != 0)
    fail_msg("%s", s->err.msg);
  assert_int_equal(s->n, 3);
  assert_int_equal(s->row[0], 2);
  assert_int_equal(s->row[1], 3);
  assert_int_equal(s->row[2], 5);
  for (size_t i = 0; i < 3; i++)
    if (!s->valid[i])
      fail_msg("%s", (const char *)s->log.data);
  assert_date(&s->rec[0], "2025-01-14 10:30:00");
  assert_true(s->rec[0].customer_income == 15000); /* 1.5E+4 */
  assert_date(&s->rec[1], "2025-01-15 23:59:59");
  assert_string_equal(s->rec[1].product, "credit_card"); /* rich text runs */
  assert_int_equal(s->rec[1].pincode, 110001);          /* no cell references */
  assert_date(&s->rec[2], "2025-01-20 00:00:00");      /* typed as text */
  assert_true(s->rec[2].customer_income == 0.1);

  read_xlsx(FIX "xlsx_1900_serials.xlsx", NULL, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 2);
  assert_date(&s->rec[0], "2025-01-14 10:30:00");
  assert_date(&s->rec[1], "2025-01-15 12:00:00");
  seen_free(s);
}

static void test_xlsx__broken_files(void **state) {
  struct seen *s = seen_new();
  read_xlsx(FIX "xlsx_truncated.xlsx", NULL, s);
  assert_error(s, "corrupt or truncated");
  read_xlsx(FIX "garbage.bin", NULL, s);
  assert_error(s, "not an XLSX workbook");
  read_xlsx(FIX "csv_basic.csv", NULL, s);
  assert_error(s, "not an XLSX workbook");
  read_xlsx(FIX "csv_empty.csv", NULL, s);
  assert_error(s, "the file is empty");
  read_xlsx(FIX "xls_sales.xls", NULL, s);
  assert_error(s, "XLS file");
  seen_free(s);
}

static void test_xlsx__zip_bomb_by_ratio(void **state) {
  struct seen *s = seen_new();
  read_xlsx(FIX "xlsx_bomb.xlsx", NULL, s);
  assert_error(s, "xl/worksheets/sheet1.xml is compressed");
  assert_error(s, "more than the limit of 100:1");
  assert_int_equal(s->n, 0);
  seen_free(s);
}

static void test_xlsx__zip_bomb_by_size(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_uncompressed = 10u << 20;
  lim.max_ratio = 1e9;
  struct seen *s = seen_new();
  read_xlsx(FIX "xlsx_bomb.xlsx", &lim, s);
  assert_error(s, "xl/worksheets/sheet1.xml would inflate to 41943");
  assert_error(s, "more than the limit of 10485760 bytes");
  seen_free(s);
}

static void test_xlsx__zip_bomb_lying_about_its_size(void **state) {
  struct seen *s = seen_new();
  read_xlsx(FIX "xlsx_lying_size.xlsx", NULL, s);
  assert_error(s, "xl/worksheets/sheet1.xml inflates to more than the 1000 bytes it declares");
  seen_free(s);
}

static void test_xlsx__hostile_xml(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_ratio = 1e9; /* let the 16 MiB tag reach expat */
  struct seen *s = seen_new();
  read_xlsx(FIX "xlsx_huge_tag.xlsx", &lim, s);
  assert_error(s, "xl/worksheets/data.xml has an XML element larger than the memory limit");
  read_xlsx(FIX "xlsx_huge_tag.xlsx", NULL, s);
  assert_error(s, "more than the limit of 100:1");
  read_xlsx(FIX "xlsx_dtd.xlsx", NULL, s);
  assert_error(s, "contains a DTD");
  seen_free(s);
}

static void test_xlsx__cell_and_row_limits(void **state) {
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_cell = 20;
  struct seen *s = seen_new();
  read_xlsx(FIX "xlsx_sales.xlsx", &lim, s);
  assert_int_equal(s->rc, 0);
  assert_int_equal(s->n, 5);
  assert_false(s->valid[0]);
  assert_true(has_problem(s, 0, SF_AGENT_ID, "longer than the limit of 20 bytes"));
  assert_int_equal(s->pr[0].count, 1);
  assert_true(s->valid[1]); /* "customer_income" of the header is longer */

  tab_limits_default(&lim);
  lim.max_row = 80;
  read_xlsx(FIX "xlsx_sales.xlsx", &lim, s);
  assert_int_equal(s->rc, 0);
  assert_false(s->valid[0]);
  assert_true(has_problem(s, 0, SF_RECORD, "row is longer than the limit of 80 bytes"));
  assert_true(s->valid[1]);

  tab_limits_default(&lim);
  lim.max_rows = 3;
  read_xlsx(FIX "xlsx_sales.xlsx", &lim, s);
  assert_error(s, "row 5: the file has more than 3 data rows, the limit");
  assert_int_equal(s->n, 3);
  seen_free(s);
}

static void test_xlsx__callback_stops(void **state) {
  struct seen *s = seen_new();
  s->stop_after = 2;
  read_xlsx(FIX "xlsx_sales.xlsx", NULL, s);
  assert_int_equal(s->rc, -2);
  assert_int_equal(s->n, 2);
  seen_free(s);
}

/* Writes a workbook of n rows with libzip (shared strings, styles with a
 * date format) for the speed figure; not a fixture. */
static void write_big_xlsx(const char *path, size_t n) {
  int zerr = 0;
  zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
  assert_non_null(z);
  static const char wb[] =
      "<workbook xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\">"
      "<sheets><sheet name=\"s\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
  static const char rels[] =
      "<Relationships><Relationship Id=\"rId1\" Target=\"worksheets/sheet1.xml\"/></Relationships>";
  static const char sst[] =
      "<sst><si><t>date</t></si><si><t>pincode</t></si><si><t>city</t></si>"
      "<si><t>product</t></si><si><t>channel</t></si><si><t>customer_age</t></si>"
      "<si><t>customer_income</t></si><si><t>id</t></si><si><t>Mumbai</t></si>"
      "<si><t>personal_loan</t></si><si><t>online</t></si></sst>";
  static const char styles[] =
      "<styleSheet><cellXfs><xf numFmtId=\"0\"/><xf numFmtId=\"22\"/></cellXfs></styleSheet>";
  struct buf b;
  buf_init(&b, 256u << 20);
  assert_int_equal(buf_puts(&b, "<worksheet><sheetData><row r=\"1\">"), 0);
  for (int i = 0; i < 8; i++)
    assert_int_equal(buf_printf(&b, "<c r=\"%c1\" t=\"s\"><v>%d</v></c>", 'A' + i, i), 0);
  assert_int_equal(buf_puts(&b, "</row>"), 0);
  for (size_t r = 2; r < n + 2; r++)
    assert_int_equal(
        buf_printf(&b,
                   "<row r=\"%zu\"><c r=\"A%zu\" s=\"1\"><v>%.6f</v></c><c r=\"B%zu\"><v>%zu</v></c>"
                   "<c r=\"C%zu\" t=\"s\"><v>8</v></c><c r=\"D%zu\" t=\"s\"><v>9</v></c>"
                   "<c r=\"E%zu\" t=\"s\"><v>10</v></c><c r=\"F%zu\"><v>%zu</v></c>"
                   "<c r=\"G%zu\"><v>%zu.5</v></c><c r=\"H%zu\" t=\"inlineStr\"><is><t>R-%zu</t></is></c></row>",
                   r, r, 45000 + (double)(r % 600) + 0.25, r, 110001 + r % 800000, r, r, r, r,
                   18 + r % 60, r, 10000 + r % 90000, r, r),
        0);
  assert_int_equal(buf_puts(&b, "</sheetData></worksheet>"), 0);
  size_t len;
  char *sheet = buf_detach(&b, &len);
  struct {
    const char *name;
    const char *data;
    size_t len;
    int owned;
  } parts[] = {{"xl/workbook.xml", wb, sizeof wb - 1, 0},
               {"xl/_rels/workbook.xml.rels", rels, sizeof rels - 1, 0},
               {"xl/sharedStrings.xml", sst, sizeof sst - 1, 0},
               {"xl/styles.xml", styles, sizeof styles - 1, 0},
               {"xl/worksheets/sheet1.xml", sheet, len, 1}};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
    zip_source_t *src = zip_source_buffer(z, parts[i].data, parts[i].len, parts[i].owned);
    assert_non_null(src);
    assert_true(zip_file_add(z, parts[i].name, src, ZIP_FL_OVERWRITE) >= 0);
  }
  assert_int_equal(zip_close(z), 0);
}

static void test_xlsx__speed(void **state) {
  if (getenv("GROMO_SKIP_SLOW")) {
    print_message("skipped (GROMO_SKIP_SLOW)\n");
    return;
  }
  size_t n = SANITIZED ? 10000 : 100000;
  char dir[TEST_TMPDIR_CAP], path[TEST_TMPDIR_CAP + 16];
  assert_int_equal(test_tmpdir("xlsx", dir), 0); /* removed at exit if a check fails */
  snprintf(path, sizeof path, "%s/speed.xlsx", dir);
  write_big_xlsx(path, n);
  size_t counts[2] = {0, 0}, rows = 0;
  struct gerr err;
  int64_t t0 = mono_us();
  int rc = xlsxrec_read(path, rules(), NULL, count_only, counts, &rows, &err);
  int64_t us = mono_us() - t0;
  test_tmpdir_remove(dir);
  if (rc != 0)
    fail_msg("%s", err.msg);
  assert_int_equal(rows, n);
  assert_int_equal(counts[0], n);
  print_message("XLSX: %zu rows in %.3f s: %.0f rows/s%s\n", n, us / 1e6,
                n / (us / 1e6), SANITIZED ? " (sanitized build)" : "");
}

/* ---- XLS -------------------------------------------------------------- */

static void test_xls__sales_fixture(void **state) {
  struct seen *s = seen_new();
  read_xls(FIX "xls_sales.xls", NULL, s);
  check_sales_workbook(s, 0);
  seen_free(s);
}

static void test_xls__broken_files_and_limits(void **state) {
  struct seen *s = seen_new();
  read_xls(FIX "garbage.bin", NULL, s);
  assert_error(s, "not an XLS workbook");
  read_xls(FIX "xlsx_sales.xlsx", NULL, s);
  assert_error(s, "looks like an XLSX file");
  read_xls(FIX "csv_empty.csv", NULL, s);
  assert_error(s, "the file is empty");
  read_xls(FIX "xlsx_truncated.xlsx", NULL, s);
  assert_error(s, "looks like an XLSX file");
  /* freexl would count 8 x 2.1e9 days, one by one, at open: refused
   * before it is opened (the message is the check's, not a timeout's) */
  read_xls(FIX "xls_date_bomb.xls", NULL, s);
  assert_error(s, "the dates of the XLS file would take too long to read");
  struct tab_limits lim;
  tab_limits_default(&lim);
  lim.max_uncompressed = 1000;
  read_xls(FIX "xls_sales.xls", &lim, s);
  assert_error(s, "more than the limit of 1000 bytes");
  tab_limits_default(&lim);
  lim.max_cell = 10;
  read_xls(FIX "xls_sales.xls", &lim, s);
  assert_int_equal(s->rc, 0);
  assert_true(has_problem(s, 0, SF_PRODUCT, "longer than the limit of 10 bytes"));
  seen_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_columns__names_and_aliases),
      cmocka_unit_test(test_columns__excel_serial_dates),
      cmocka_unit_test(test_columns__numbers_as_shown),
      cmocka_unit_test(test_csv__basic_fixture),
      cmocka_unit_test(test_csv__quoted_newlines),
      cmocka_unit_test(test_csv__semicolons_bom_aliases),
      cmocka_unit_test(test_csv__tabs_and_more_aliases),
      cmocka_unit_test(test_csv__invalid_utf8_rejects_the_row),
      cmocka_unit_test(test_csv__empty_header_only_wrong_columns),
      cmocka_unit_test(test_csv__duplicate_column),
      cmocka_unit_test(test_csv__binary_garbage),
      cmocka_unit_test(test_csv__truncated_inside_quotes),
      cmocka_unit_test(test_csv__delimiter_detection),
      cmocka_unit_test(test_csv__column_order_extra_and_missing_cells),
      cmocka_unit_test(test_csv__blank_rows_and_crlf_count),
      cmocka_unit_test(test_csv__cell_too_long),
      cmocka_unit_test(test_csv__huge_cell_streamed),
      cmocka_unit_test(test_csv__row_too_long),
      cmocka_unit_test(test_csv__too_many_rows),
      cmocka_unit_test(test_csv__callback_stops),
      cmocka_unit_test(test_csv__every_chunk_size_same_result),
      cmocka_unit_test(test_csv__first_piece_of_any_size),
      cmocka_unit_test(test_csv__header_row_over_the_limit),
      cmocka_unit_test(test_csv__row_after_a_long_row),
      cmocka_unit_test(test_csv__cut_cells_count_toward_the_row),
      cmocka_unit_test(test_csv__long_runs_of_spaces),
      cmocka_unit_test(test_csv__stopped_at_the_end),
      cmocka_unit_test(test_csv__speed),
      cmocka_unit_test(test_xlsx__sales_fixture),
      cmocka_unit_test(test_xlsx__date_systems_and_cell_kinds),
      cmocka_unit_test(test_xlsx__broken_files),
      cmocka_unit_test(test_xlsx__zip_bomb_by_ratio),
      cmocka_unit_test(test_xlsx__zip_bomb_by_size),
      cmocka_unit_test(test_xlsx__zip_bomb_lying_about_its_size),
      cmocka_unit_test(test_xlsx__hostile_xml),
      cmocka_unit_test(test_xlsx__cell_and_row_limits),
      cmocka_unit_test(test_xlsx__callback_stops),
      cmocka_unit_test(test_xlsx__speed),
      cmocka_unit_test(test_xls__sales_fixture),
      cmocka_unit_test(test_xls__broken_files_and_limits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
