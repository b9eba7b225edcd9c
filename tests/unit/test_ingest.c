/* src/ingest: format detection; jsonrec.c (JSON arrays) and json.c (NDJSON),
 * fed in pieces; stage.c, spool.c; writer.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

#include "gromo/ingest.h"
#include "gromo/spool.h"
#include "gromo/store.h"
#include "gromo/timeutil.h"

/* "Now" for the records' dates (not more than a day in the future): fixed,
 * 2026-07-01 12:00 IST, so that nothing depends on the day the tests run. */
#define NOW_MS (days_from_civil(2026, 7, 1) * DAY_MS + 12 * 3600000LL)

#define REC(pin) \
  "{\"date\":\"2025-01-01\",\"pincode\":\"" pin "\",\"product\":\"loan\"," \
  "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":1000}"

/* What one reading by jsonrec or ndjsonrec handed over, and how it ended. */
struct seen {
  int valid[32];
  size_t row[32]; /* jsonrec: the line where the record begins; ndjsonrec: its line */
  char problem[32][160];
  size_t n;
  int rc;
  struct gerr err;
  size_t err_line; /* jsonrec: the line of the failure */
  struct jsonrec *jr;
};

static void seen_record(struct seen *s, size_t row, int valid, const struct sale_problems *pr) {
  if (s->n < 32) {
    s->valid[s->n] = valid;
    s->row[s->n] = row;
    s->problem[s->n][0] = '\0';
    if (!valid)
      snprintf(s->problem[s->n], sizeof s->problem[0], "%s %s",
               sale_field_name(pr->p[0].field), pr->p[0].problem);
  }
  s->n++;
}

static int seen_array(void *ctx, size_t index, const struct sale *rec, int valid,
                      const struct sale_problems *pr) {
  struct seen *s = ctx;
  assert_int_equal(index, s->n);
  seen_record(s, jsonrec_record_line(s->jr), valid, pr);
  return 0;
}

static int seen_ndjson(void *ctx, size_t line, const struct sale *rec, int valid,
                       const struct sale_problems *pr) {
  struct seen *s = ctx;
  if (s->n)
    assert_true(line > s->row[s->n < 32 ? s->n - 1 : 31]);
  seen_record(s, line, valid, pr);
  return 0;
}

enum reader { JSON_ARRAY, NDJSON };

/* text[len] in pieces: cut in two at `split` (when not 0), each part in
 * pieces of `piece` bytes (0: whole). max: jsonrec's record bound (0: the
 * default). */
static void read_pieces(enum reader kind, const char *text, size_t len, size_t split,
                        size_t piece, size_t max, struct seen *s) {
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct ndjsonrec *nr = NULL;
  memset(s, 0, sizeof *s);
  if (kind == JSON_ARRAY) {
    assert_int_equal(jsonrec_new(&rules, seen_array, s, &s->jr), 0);
    if (max)
      jsonrec_set_max_record(s->jr, max);
  } else {
    assert_int_equal(ndjsonrec_new(&rules, seen_ndjson, s, &nr), 0);
  }
  size_t parts[2][2] = {{0, split ? split : len}, {split ? split : len, len}};
  for (int k = 0; k < 2 && s->rc == 0; k++) {
    size_t step = piece ? piece : len + 1;
    for (size_t off = parts[k][0]; off < parts[k][1] && s->rc == 0; off += step) {
      size_t n = parts[k][1] - off < step ? parts[k][1] - off : step;
      s->rc = kind == JSON_ARRAY ? jsonrec_feed(s->jr, text + off, n, &s->err)
                                 : ndjsonrec_feed(nr, text + off, n, &s->err);
    }
  }
  if (s->rc == 0)
    s->rc = kind == JSON_ARRAY ? jsonrec_finish(s->jr, &s->err)
                               : ndjsonrec_finish(nr, &s->err);
  if (kind == JSON_ARRAY) {
    assert_int_equal(jsonrec_count(s->jr), s->n);
    if (s->rc == -1)
      s->err_line = jsonrec_line(s->jr);
    jsonrec_free(s->jr);
    s->jr = NULL;
  } else {
    assert_int_equal(ndjsonrec_count(nr), s->n);
    ndjsonrec_free(nr);
  }
}

/* Whole, cut in two at every position, and in pieces of several sizes from
 * 1 byte: the same records, lines, problems and end (the error's code; its
 * line and text too where the reader's texts do not depend on the piece). */
static void read_every_way(enum reader kind, const char *text, size_t max, struct seen *s) {
  size_t len = strlen(text);
  read_pieces(kind, text, len, 0, 0, max, s);
  static const size_t sizes[] = {1, 2, 3, 7, 64, 4096};
  size_t nways = len + sizeof sizes / sizeof sizes[0];
  for (size_t w = 1; w < nways; w++) {
    struct seen t;
    size_t split = w < len ? w : 0, piece = w < len ? 0 : sizes[w - len];
    read_pieces(kind, text, len, split, piece, max, &t);
    int same = t.rc == s->rc && t.n == s->n && t.err.code == s->err.code &&
               !memcmp(t.valid, s->valid, sizeof t.valid) &&
               !memcmp(t.row, s->row, sizeof t.row) &&
               !memcmp(t.problem, s->problem, sizeof t.problem) &&
               (kind == JSON_ARRAY || !strcmp(t.err.msg, s->err.msg));
    if (!same)
      fail_msg("cut at %zu, pieces of %zu: rc %d n %zu \"%s\", not rc %d n %zu \"%s\"", split,
               piece, t.rc, t.n, t.err.msg, s->rc, s->n, s->err.msg);
  }
}

/* JSON by its first bytes (after a byte order mark and blanks) and by
 * the NDJSON extensions. */
static void test_ingest__detect(void **state) {
  assert_int_equal(ingest_file_of_bytes("  [", 3), FILE_JSON);
  assert_int_equal(ingest_file_of_bytes("\xEF\xBB\xBF{", 4), FILE_NDJSON);
  assert_int_equal(ingest_file_of_name("x.JSONL"), FILE_NDJSON);
  assert_int_equal(ingest_file_detect(NULL, "x.ndjson", "", 0), FILE_NDJSON);
  assert_int_equal(ingest_file_of_bytes("date,pincode", 12), FILE_CSV);
  assert_int_equal(ingest_file_of_bytes("\x00\x01", 2), FILE_CSV);
  assert_int_equal(ingest_file_of_bytes(" \r\n", 3), FILE_CSV);
}

/* The file format of import and upload: type, then name, then bytes. */
static void test_ingest__file_detect(void **state) {
  static const struct {
    const char *type, *name, *head;
    size_t n;
    enum ingest_file want;
  } cases[] = {
      {"text/csv; charset=utf-8", "x.xlsx", "[", 1, FILE_CSV},
      {"application/x-ndjson", NULL, "[", 1, FILE_NDJSON},
      {"APPLICATION/JSON", NULL, "", 0, FILE_JSON},
      {"application/octet-stream", "sales.XLS", "", 0, FILE_XLS},
      {NULL, "sales.jsonl", "[", 1, FILE_NDJSON},
      {NULL, "sales.tsv", "PK\x03\x04", 4, FILE_CSV},
      {NULL, "sales", "PK\x03\x04", 4, FILE_XLSX},
      {NULL, NULL, "\xD0\xCF\x11\xE0", 4, FILE_XLS},
      {NULL, "-", " \n[", 3, FILE_JSON},
      {NULL, "a.dat", "\xEF\xBB\xBF{", 4, FILE_NDJSON},
      {NULL, NULL, "date,pincode", 12, FILE_CSV},
      {NULL, NULL, "", 0, FILE_CSV},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    enum ingest_file got =
        ingest_file_detect(cases[i].type, cases[i].name, cases[i].head, cases[i].n);
    if (got != cases[i].want)
      fail_msg("case %zu: %s, want %s", i, ingest_file_name(got),
               ingest_file_name(cases[i].want));
  }
  assert_string_equal(ingest_file_name(FILE_XLSX), "xlsx");
  assert_int_equal(ingest_file_of_type("application/octet-stream"), FILE_UNKNOWN);
}

/* The streaming JSON reader (jsonrec.c), fed in chunks of every size. */
struct collected {
  size_t n, valid;
  int32_t pins[16];
  char problems[16][160];
};

static int collect(void *ctx, size_t index, const struct sale *rec, int valid,
                   const struct sale_problems *pr) {
  struct collected *c = ctx;
  if (c->n < 16) {
    c->pins[c->n] = valid ? rec->pincode : 0;
    c->problems[c->n][0] = '\0';
    if (!valid && pr->count)
      snprintf(c->problems[c->n], sizeof c->problems[0], "%s %s",
               sale_field_name(pr->p[0].field), pr->p[0].problem);
  }
  c->n++;
  c->valid += valid != 0;
  return 0;
}

/* The records of a JSON array, each named by the line where it begins. */
static void test_jsonrec__rows_and_lines(void **state) {
  struct seen s;
  read_every_way(JSON_ARRAY, "[\n" REC("400001") ",\n" REC("12") ",\n\n" REC("110001") "\n]\n",
                 0, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 3);
  assert_true(s.valid[0]);
  assert_false(s.valid[1]);
  assert_true(s.valid[2]);
  assert_int_equal(s.row[0], 2);
  assert_int_equal(s.row[1], 3);
  assert_int_equal(s.row[2], 5);
  read_every_way(JSON_ARRAY, "[]", 0, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 0);
  /* Elements that are not objects are rejected records, on their line. */
  read_every_way(JSON_ARRAY, "[\n1,\n\"two\",\n[3],\nnull]", 0, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 4);
  assert_int_equal(s.row[2], 4);
  assert_string_equal(s.problem[3], "record must be a JSON object");
}

/* A JSON array that cannot be read on: refused, naming the line. */
static void test_jsonrec__broken_names_the_line(void **state) {
  static const struct {
    const char *text;
    size_t line;
    const char *says;
  } bad[] = {
      {"[" REC("400001"), 1, "truncated"},
      {"[" REC("400001") " " REC("400001") "]", 1, "malformed JSON"}, /* no comma */
      {"[" REC("400001") "] trailing", 1, "malformed JSON"},
      {"[\n" REC("400001") ",\n{\"date\":", 3, "truncated"},
      {"[\n" REC("400001") ",\n\n{oops}]", 4, "malformed JSON"},
      {"[\n" REC("400001") ",\n]", 3, "malformed JSON"},
      {"\n\"x\"", 2, "must be a JSON array"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct seen s;
    read_every_way(JSON_ARRAY, bad[i].text, 0, &s);
    assert_int_equal(s.rc, -1);
    assert_int_equal(s.err.code, GERR_INVALID_INPUT);
    if (s.err_line != bad[i].line || !strstr(s.err.msg, bad[i].says))
      fail_msg("case %zu: line %zu \"%s\"", i, s.err_line, s.err.msg);
  }
  struct seen s;
  read_every_way(JSON_ARRAY, "   \n ", 0, &s);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.err.msg, "empty"));
}

/* A UTF-8 byte order mark before the JSON is skipped, wherever the pieces
 * cut it; the start of one alone is no JSON. */
static void test_jsonrec__byte_order_mark(void **state) {
  struct seen s;
  read_every_way(JSON_ARRAY, "\xEF\xBB\xBF[\n" REC("400001") "]", 0, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 1);
  assert_true(s.valid[0]);
  assert_int_equal(s.row[0], 2);
  static const char *const bad[] = {"\xEF\xBB[]", "\xEF", "\xEF\xBB\xBF", "[\xEF\xBB\xBF]"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    read_every_way(JSON_ARRAY, bad[i], 0, &s);
    assert_int_equal(s.rc, -1);
  }
}

/* A record longer than the bound ends the reading, as soon as a piece
 * ends past it: a token yajl keeps whole never grows beyond it. */
static void test_jsonrec__record_bound(void **state) {
  char text[3000];
  snprintf(text, sizeof text, "[" REC("400001") ",\n{\"note\":\"%0900d\"}]", 0);
  struct seen s;
  read_every_way(JSON_ARRAY, text, 1000, &s); /* under the bound */
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 2);
  snprintf(text, sizeof text, "[" REC("400001") ",\n{\"note\":\"%02000d\"}]", 0);
  read_every_way(JSON_ARRAY, text, 1000, &s);
  assert_int_equal(s.rc, -1);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.err.msg, "record 1 is longer than 1000 bytes");
  /* Fed in pieces, it stops at the first piece past the bound. */
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct jsonrec *j = NULL;
  struct collected c;
  memset(&c, 0, sizeof c);
  assert_int_equal(jsonrec_new(&rules, collect, &c, &j), 0);
  jsonrec_set_max_record(j, 1000);
  struct gerr err;
  assert_int_equal(jsonrec_feed(j, "[\"", 2, &err), 0);
  char piece[100];
  memset(piece, 'a', sizeof piece);
  int fed = 0, rc = 0;
  while (rc == 0 && fed < 100) {
    rc = jsonrec_feed(j, piece, sizeof piece, &err);
    fed++;
  }
  assert_int_equal(rc, -1);
  assert_int_equal(fed, 10); /* 2 + 10 x 100 bytes > 1000 */
  assert_string_equal(err.msg, "record 0 is longer than 1000 bytes");
  jsonrec_free(j);
}

/* The default bound: 64 MiB, the same for a file of any size. */
static void test_jsonrec__default_bound(void **state) {
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct jsonrec *j = NULL;
  struct collected c;
  memset(&c, 0, sizeof c);
  assert_int_equal(jsonrec_new(&rules, collect, &c, &j), 0);
  struct gerr err;
  const char *head = "[" REC("400001") ",{\"note\":\"";
  assert_int_equal(jsonrec_feed(j, head, strlen(head), &err), 0);
  size_t mib = (size_t)1 << 20, fed = 0;
  char *piece = malloc(mib);
  assert_non_null(piece);
  memset(piece, 'a', mib);
  int rc = 0;
  while (rc == 0 && fed < 100) {
    rc = jsonrec_feed(j, piece, mib, &err);
    fed++;
  }
  free(piece);
  assert_int_equal(rc, -1);
  assert_int_equal(fed, 64); /* the 64th MiB passes the bound with the bytes before */
  assert_int_equal(c.n, 1);
  char want[80];
  snprintf(want, sizeof want, "record 1 is longer than %zu bytes", INGEST_JSON_RECORD_MAX);
  assert_string_equal(err.msg, want);
  jsonrec_free(j);
}

/* NDJSON: a bad line is one rejected record; blank lines are counted. */
static void test_ndjsonrec__keeps_going(void **state) {
  struct seen s;
  read_every_way(NDJSON, REC("400001") "\r\n\n{oops}\n" REC("1") "\n   \n" REC("560001"), 0,
                 &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 4);
  assert_true(s.valid[0]);
  assert_false(s.valid[1]); /* malformed line is one rejected record */
  assert_false(s.valid[2]);
  assert_true(s.valid[3]);
  assert_int_equal(s.row[1], 3);
  assert_int_equal(s.row[3], 6);
  assert_string_equal(s.problem[1], "record malformed JSON at column 5: string or '}' expected "
                                    "near 'oops'");
  read_every_way(NDJSON, "\xEF\xBB\xBF" REC("400001") "\n[1]\n\n\n", 0, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 2);
  assert_true(s.valid[0]);
  assert_string_equal(s.problem[1], "record must be a JSON object");
  read_every_way(NDJSON, " \n\r\n\n", 0, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 0);
  read_every_way(NDJSON, "", 0, &s);
  assert_int_equal(s.n, 0);
}

static int stop_at_second(void *ctx, size_t line, const struct sale *rec, int valid,
                          const struct sale_problems *pr) {
  return ++*(int *)ctx == 2;
}

/* A stop asked by the callback ends the reading, and stays. */
static void test_ndjsonrec__callback_stops(void **state) {
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct ndjsonrec *r = NULL;
  struct gerr err;
  int calls = 0;
  const char *text = REC("400001") "\n" REC("400001") "\n" REC("400001") "\n";
  assert_int_equal(ndjsonrec_new(&rules, stop_at_second, &calls, &r), 0);
  assert_int_equal(ndjsonrec_feed(r, text, strlen(text), &err), -2);
  assert_int_equal(ndjsonrec_feed(r, text, strlen(text), &err), -2);
  assert_int_equal(ndjsonrec_finish(r, &err), -2);
  assert_int_equal(calls, 2);
  assert_int_equal(ndjsonrec_count(r), 2);
  ndjsonrec_free(r);
  ndjsonrec_free(NULL);
}

static int feed_chunks(const char *text, size_t chunk, struct collected *c,
                       struct gerr *err) {
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct jsonrec *j = NULL;
  memset(c, 0, sizeof *c);
  assert_int_equal(jsonrec_new(&rules, collect, c, &j), 0);
  size_t len = strlen(text);
  int rc = 0;
  for (size_t off = 0; off < len && rc == 0; off += chunk)
    rc = jsonrec_feed(j, text + off, len - off < chunk ? len - off : chunk, err);
  if (rc == 0)
    rc = jsonrec_finish(j, err);
  jsonrec_free(j);
  return rc;
}

static void test_jsonrec__any_chunking_same_records(void **state) {
  const char *text = "[" REC("400001") ", " REC("12") ",\n" REC("110001") "]";
  for (size_t chunk = 1; chunk <= strlen(text); chunk += 7) {
    struct collected c;
    struct gerr err;
    assert_int_equal(feed_chunks(text, chunk, &c, &err), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.valid, 2);
    assert_int_equal(c.pins[0], 400001);
    assert_int_equal(c.pins[2], 110001);
    assert_non_null(strstr(c.problems[1], "pincode"));
  }
}

static void test_jsonrec__types_and_members(void **state) {
  static const struct {
    const char *json;
    const char *problem; /* NULL: valid */
  } rows[] = {
      {"{\"date\":\"2025-01-01\",\"pincode\":400001,\"product\":\"loan\","
       "\"channel\":\"online\",\"customer_age\":30.0,\"customer_income\":1e3,"
       "\"extra\":{\"deep\":[1,2,{\"x\":null}]},\"city\":null}",
       NULL},
      {"{\"date\":\"2025-01-01\",\"pincode\":400001.0,\"product\":\"loan\","
       "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":1}",
       "pincode must be a 6-digit string or integer, not a real"},
      {"{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"product\":[\"loan\"],"
       "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":1}",
       "product must be a string, not an array"},
      {"{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"product\":\"loan\","
       "\"channel\":\"online\",\"customer_age\":\"30\",\"customer_income\":1}",
       "customer_age must be an integer, not a string"},
      {"{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"product\":\"loan\","
       "\"channel\":\"online\",\"customer_age\":30,\"customer_income\":true}",
       "customer_income must be a number, not a boolean"},
      {"{\"date\":\"2025-01-01\",\"pincode\":\"400001\",\"pincode\":\"400002\","
       "\"product\":\"loan\",\"channel\":\"online\",\"customer_age\":30,"
       "\"customer_income\":1}",
       "pincode is given twice"},
      {"{\"pincode\":\"400001\",\"product\":\"loan\",\"channel\":\"online\","
       "\"customer_age\":30,\"customer_income\":99999999999999999999999}",
       "customer_income must be from 0 to 100000000"},
      {"{}", "date is required"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    struct collected c;
    struct gerr err;
    assert_int_equal(feed_chunks(rows[i].json, 5, &c, &err), 0);
    assert_int_equal(c.n, 1);
    if (!rows[i].problem) {
      assert_int_equal(c.valid, 1);
    } else {
      assert_int_equal(c.valid, 0);
      if (strcmp(c.problems[0], rows[i].problem) != 0)
        fail_msg("row %zu: got '%s', want '%s'", i, c.problems[0], rows[i].problem);
    }
  }
}

static void test_jsonrec__structural_errors(void **state) {
  char deep[200];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 99);
  deep[199] = '\0';
  static const char *const bad[] = {
      "42", "\"x\"", "null", "[{}] [{}]", "[" REC("400001"), "[{\"date\":",
      "{\"a\":1", "[1,]", "", "   ", "[\"\xff\xfe\"]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct collected c;
    struct gerr err;
    if (feed_chunks(bad[i], 3, &c, &err) != -1)
      fail_msg("case %zu was accepted", i);
    assert_int_equal(err.code, GERR_INVALID_INPUT);
  }
  struct collected c;
  struct gerr err;
  assert_int_equal(feed_chunks(deep, 16, &c, &err), -1);
  assert_non_null(strstr(err.msg, "nested"));
  /* Array elements that are not objects are invalid records, not errors. */
  assert_int_equal(feed_chunks("[1, \"two\", [3], null]", 4, &c, &err), 0);
  assert_int_equal(c.n, 4);
  assert_int_equal(c.valid, 0);
  assert_string_equal(c.problems[2], "record must be a JSON object");
  assert_int_equal(feed_chunks("[]", 1, &c, &err), 0);
  assert_int_equal(c.n, 0);
}

static int stop_after_two(void *ctx, size_t index, const struct sale *rec, int valid,
                          const struct sale_problems *pr) {
  return index >= 1;
}

static void test_jsonrec__callback_stops(void **state) {
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct jsonrec *j = NULL;
  struct gerr err;
  const char *text = "[" REC("400001") "," REC("400001") "," REC("400001") "]";
  assert_int_equal(jsonrec_new(&rules, stop_after_two, NULL, &j), 0);
  assert_int_equal(jsonrec_feed(j, text, strlen(text), &err), -2);
  assert_int_equal(jsonrec_count(j), 2);
  jsonrec_free(j);
}

/* ---- the writer: batches stored from a second thread ------------------- */

struct temp_store {
  char dir[TEST_TMPDIR_CAP], path[96];
  struct store *st;
};

static void temp_store_open(struct temp_store *t) {
  assert_int_equal(test_tmpdir("writer", t->dir), 0);
  snprintf(t->path, sizeof t->path, "%s/w.db", t->dir);
  struct gerr err;
  assert_int_equal(store_open(t->path, &t->st, &err), 0);
}

static void temp_store_close(struct temp_store *t) {
  store_close(t->st);
  test_tmpdir_remove(t->dir);
}

static long long stored_count(struct store *st) {
  int64_t n = -1;
  struct gerr err;
  assert_int_equal(store_sales_count(st, &n, &err), 0);
  return (long long)n;
}

static struct sale sale_numbered(int i, int with_id) {
  struct sale r;
  memset(&r, 0, sizeof r);
  r.ts_ms = SALE_MIN_DATE_MS + (int64_t)i * 60000;
  r.pincode = 400001;
  r.customer_age = 35;
  r.customer_income = 1000 + i;
  snprintf(r.product, sizeof r.product, "loan");
  snprintf(r.channel, sizeof r.channel, "online");
  if (with_id)
    snprintf(r.id, sizeof r.id, "W-%d", i);
  return r;
}

/* Every record in batches of 7 (the last one short), duplicates counted. */
static void test_writer__stores_every_batch(void **state) {
  struct temp_store t;
  temp_store_open(&t);
  struct gerr err;
  struct ingest_writer *w = NULL;
  assert_int_equal(store_begin(t.st, &err), 0);
  assert_int_equal(ingest_writer_start(t.st, 7, &w, &err), 0);
  for (int i = 0; i < 100; i++) {
    struct sale r = sale_numbered(i < 90 ? i : i - 90, 1); /* 10 ids again */
    assert_int_equal(ingest_writer_add(w, &r, &err), 0);
  }
  struct store_insert_stats st;
  assert_int_equal(ingest_writer_finish(w, &st, &err), 0);
  ingest_writer_free(w);
  assert_int_equal(st.inserted, 90);
  assert_int_equal(st.duplicates, 10);
  assert_int_equal(store_commit(t.st, &err), 0);
  assert_int_equal(stored_count(t.st), 90);
  temp_store_close(&t);
}

/* A failed insert reaches the reader at its next hand-over, and finish
 * reports it; the caller rolls back. */
static void test_writer__failure_reaches_the_reader(void **state) {
  struct temp_store t;
  temp_store_open(&t);
  struct gerr err;
  struct ingest_writer *w = NULL;
  assert_int_equal(store_begin(t.st, &err), 0);
  assert_int_equal(ingest_writer_start(t.st, 10, &w, &err), 0);
  int failed_at = -1;
  for (int i = 0; i < 1000 && failed_at < 0; i++) {
    struct sale r = sale_numbered(i, 0);
    if (i == 25)
      r.pincode = 12; /* the store's own check refuses it */
    if (ingest_writer_add(w, &r, &err) < 0)
      failed_at = i;
  }
  assert_true(failed_at >= 29); /* the batch of 20-29 was handed over at 29 */
  assert_true(err.msg[0] != '\0');
  struct gerr err2;
  assert_int_equal(ingest_writer_finish(w, NULL, &err2), -1);
  assert_string_equal(err2.msg, err.msg);
  ingest_writer_free(w);
  store_rollback(t.st);
  assert_int_equal(stored_count(t.st), 0);
  temp_store_close(&t);
}

/* Freed without finish (a client gone): nothing more is stored, and the
 * rollback leaves the store as it was. */
static void test_writer__free_without_finish(void **state) {
  struct temp_store t;
  temp_store_open(&t);
  struct gerr err;
  struct ingest_writer *w = NULL;
  assert_int_equal(store_begin(t.st, &err), 0);
  assert_int_equal(ingest_writer_start(t.st, 16, &w, &err), 0);
  for (int i = 0; i < 500; i++) {
    struct sale r = sale_numbered(i, 0);
    assert_int_equal(ingest_writer_add(w, &r, &err), 0);
  }
  ingest_writer_free(w);
  store_rollback(t.st);
  assert_int_equal(stored_count(t.st), 0);
  ingest_writer_free(NULL);
  temp_store_close(&t);
}

/* Large inputs in pieces: an array of 20,000 records; an input cut short
 * (a file that could not be read to its end: the reader is freed without
 * finish, or finish says it is truncated); NDJSON lines too long to keep,
 * and lines with blanks around a record as long as allowed. */
static void test_jsonrec__large_and_cut_short(void **state) {
  struct buf b;
  buf_init(&b, (size_t)64 << 20);
  assert_int_equal(buf_puts(&b, "["), 0);
  for (int i = 0; i < 20000; i++)
    assert_int_equal(buf_puts(&b, i ? ",\n" REC("400001") : REC("400001")), 0);
  assert_int_equal(buf_puts(&b, "]"), 0);
  struct seen s;
  read_pieces(JSON_ARRAY, b.data, b.len, 0, 100000, 0, &s);
  assert_int_equal(s.rc, 0);
  assert_int_equal(s.n, 20000);
  assert_int_equal(s.row[31], 32);
  /* Half of it, then the end: the records before the cut, then truncated. */
  read_pieces(JSON_ARRAY, b.data, b.len / 2, 0, 4096, 0, &s);
  assert_int_equal(s.rc, -1);
  assert_non_null(strstr(s.err.msg, "truncated"));
  assert_true(s.n > 0 && s.n < 20000);
  assert_int_equal(s.err_line, s.n + (b.data[b.len / 2 - 1] == '\n'));
  /* Half of it, then freed without finish: nothing more, nothing leaked. */
  struct sale_rules rules = {.now_ist_ms = NOW_MS};
  struct collected c;
  memset(&c, 0, sizeof c);
  struct jsonrec *j = NULL;
  struct gerr err;
  assert_int_equal(jsonrec_new(&rules, collect, &c, &j), 0);
  assert_int_equal(jsonrec_feed(j, b.data, b.len / 2, &err), 0);
  size_t before = c.n;
  jsonrec_free(j);
  assert_int_equal(c.n, before);
  jsonrec_free(NULL);
  buf_release(&b);
}

static void test_ndjsonrec__long_lines(void **state) {
  struct buf b;
  buf_init(&b, (size_t)64 << 20);
  /* A line of 3 MiB: one rejected record, never held whole; the lines
   * around it are read. */
  assert_int_equal(buf_puts(&b, REC("400001") "\n{\"x\":\""), 0);
  char kib[1024];
  memset(kib, 'a', sizeof kib);
  for (int i = 0; i < 3 * 1024; i++)
    assert_int_equal(buf_append(&b, kib, sizeof kib), 0);
  assert_int_equal(buf_puts(&b, "\"}\n" REC("110001") "\n"), 0);
  /* A record of exactly INGEST_NDJSON_LINE_MAX bytes, with 60 KiB of blanks
   * around it: read; one byte more: too long. Last, a line too long
   * without its '\n'. */
  static const char open[] = "{\"date\":\"2025-01-01\",\"pincode\":\"400001\","
                             "\"product\":\"loan\",\"channel\":\"online\",\"customer_age\":30,"
                             "\"customer_income\":1000,\"note\":\"";
  for (int extra = 0; extra < 2; extra++) {
    char blanks[30 * 1024];
    memset(blanks, ' ', sizeof blanks);
    assert_int_equal(buf_append(&b, blanks, sizeof blanks), 0);
    assert_int_equal(buf_puts(&b, open), 0);
    size_t fill = INGEST_NDJSON_LINE_MAX - (sizeof open - 1) - 2 + (size_t)extra;
    for (size_t k = 0; k < fill; k++)
      assert_int_equal(buf_append(&b, "b", 1), 0);
    assert_int_equal(buf_puts(&b, "\"}"), 0);
    assert_int_equal(buf_append(&b, blanks, sizeof blanks), 0);
    assert_int_equal(buf_puts(&b, "\r\n"), 0);
  }
  for (int i = 0; i < 2 * 1024; i++)
    assert_int_equal(buf_append(&b, kib, sizeof kib), 0);
  static const size_t pieces[] = {0, 65536, 1000003};
  for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
    struct seen s;
    read_pieces(NDJSON, b.data, b.len, 0, pieces[k], 0, &s);
    assert_int_equal(s.rc, 0);
    assert_int_equal(s.n, 6);
    assert_true(s.valid[0] && !s.valid[1] && s.valid[2] && s.valid[3] && !s.valid[4] &&
                !s.valid[5]);
    assert_int_equal(s.row[1], 2);
    assert_int_equal(s.row[2], 3);
    assert_int_equal(s.row[5], 6);
    assert_non_null(strstr(s.problem[1], "longer than"));
    assert_non_null(strstr(s.problem[4], "longer than"));
    assert_non_null(strstr(s.problem[5], "longer than"));
  }
  buf_release(&b);
}

/* Staged records come back as they went in: every field, the longest
 * texts, empty ones, across many read buffers. */
struct replayed {
  size_t n;
  int bad;
};

static struct sale sale_staged(int i) {
  struct sale r = sale_numbered(i, i % 3 == 0);
  r.customer_income = i % 5 == 0 ? 0.5 : 1000.25 * i;
  r.customer_age = 18 + i % 80;
  if (i % 7 == 0) {
    memset(r.city, 'c', SALE_CITY_MAX_BYTES);
    r.city[SALE_CITY_MAX_BYTES] = '\0';
    memset(r.id, 'i', SALE_ID_MAX);
    r.id[SALE_ID_MAX] = '\0';
    memset(r.product, 'p', SALE_IDENT_MAX);
    r.product[SALE_IDENT_MAX] = '\0';
    snprintf(r.agent_id, sizeof r.agent_id, "f47ac10b-58cc-4372-a567-0e02b2c3d479");
  } else if (i % 2) {
    snprintf(r.city, sizeof r.city, "Mumbai %d", i);
  }
  return r;
}

static int check_replayed(void *ctx, const struct sale *rec) {
  struct replayed *r = ctx;
  struct sale want = sale_staged((int)r->n++);
  if (rec->ts_ms != want.ts_ms || rec->pincode != want.pincode ||
      rec->customer_age != want.customer_age ||
      rec->customer_income != want.customer_income || strcmp(rec->product, want.product) ||
      strcmp(rec->channel, want.channel) || strcmp(rec->agent_id, want.agent_id) ||
      strcmp(rec->id, want.id) || strcmp(rec->city, want.city))
    r->bad++;
  return 0;
}

static void test_stage__round_trip(void **state) {
  struct gerr err;
  struct sale_stage *st = NULL;
  assert_int_equal(sale_stage_new(NULL, &st, &err), 0);
  for (int i = 0; i < 20000; i++) {
    struct sale r = sale_staged(i);
    assert_int_equal(sale_stage_add(st, &r, &err), 0);
  }
  assert_int_equal(sale_stage_count(st), 20000);
  assert_true(sale_stage_bytes(st) < 20000 * 200); /* compact */
  for (int pass = 0; pass < 2; pass++) {
    struct replayed r = {0, 0};
    assert_int_equal(sale_stage_replay(st, check_replayed, &r, &err), 0);
    assert_int_equal(r.n, 20000);
    assert_int_equal(r.bad, 0);
  }
  sale_stage_free(st);
  sale_stage_free(NULL);
}

/* The bound counts every file of the spool; freeing gives the room back.
 * Files have no name in the folder. */
static void test_spool__bound_and_no_names(void **state) {
  char dir[TEST_TMPDIR_CAP];
  assert_int_equal(test_tmpdir("spool", dir), 0);
  struct gerr err;
  struct spool *sp = NULL;
  assert_int_equal(spool_new(dir, 100000, &sp, &err), 0);
  struct spool_file *a = NULL, *b = NULL;
  assert_int_equal(spool_file_new(sp, &a, &err), 0);
  assert_int_equal(spool_file_new(sp, &b, &err), 0);
  char chunk[1000];
  memset(chunk, 'x', sizeof chunk);
  for (int i = 0; i < 60; i++)
    assert_int_equal(spool_file_write(a, chunk, sizeof chunk, &err), 0);
  int refused = -1;
  for (int i = 0; i < 60 && refused < 0; i++)
    if (spool_file_write(b, chunk, sizeof chunk, &err) < 0)
      refused = i;
  assert_int_equal(refused, 40);
  assert_int_equal(err.code, GERR_INSUFFICIENT_STORAGE);
  assert_non_null(strstr(err.msg, "--max-spool"));
  assert_int_equal(spool_used(sp), 100000);
  /* What a holds can be read back through its path. */
  assert_int_equal(spool_file_flush(a, &err), 0);
  FILE *f = fopen(spool_file_path(a), "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  assert_int_equal(ftell(f), 60000);
  fclose(f);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s')\"", dir);
  assert_int_equal(system(cmd), 0); /* nothing to see in the folder */
  spool_file_free(b);
  spool_file_free(a);
  assert_int_equal(spool_used(sp), 0);
  assert_int_equal(spool_file_new(sp, &a, &err), 0);
  assert_int_equal(spool_file_write(a, chunk, sizeof chunk, &err), 0);
  spool_file_free(a);
  spool_free(sp);
  assert_int_equal(rmdir(dir), 0); /* empty: the spool left nothing */
  test_tmpdir_remove(dir);
  /* A folder that is not one is refused by name. */
  assert_int_equal(spool_new("/nonexistent/spool", 0, &sp, &err), -1);
  assert_non_null(strstr(err.msg, "/nonexistent/spool"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_stage__round_trip),
      cmocka_unit_test(test_spool__bound_and_no_names),
      cmocka_unit_test(test_ingest__detect),
      cmocka_unit_test(test_ingest__file_detect),
      cmocka_unit_test(test_jsonrec__rows_and_lines),
      cmocka_unit_test(test_jsonrec__broken_names_the_line),
      cmocka_unit_test(test_jsonrec__byte_order_mark),
      cmocka_unit_test(test_jsonrec__record_bound),
      cmocka_unit_test(test_jsonrec__default_bound),
      cmocka_unit_test(test_jsonrec__large_and_cut_short),
      cmocka_unit_test(test_ndjsonrec__keeps_going),
      cmocka_unit_test(test_ndjsonrec__callback_stops),
      cmocka_unit_test(test_ndjsonrec__long_lines),
      cmocka_unit_test(test_jsonrec__any_chunking_same_records),
      cmocka_unit_test(test_jsonrec__types_and_members),
      cmocka_unit_test(test_jsonrec__structural_errors),
      cmocka_unit_test(test_jsonrec__callback_stops),
      cmocka_unit_test(test_writer__stores_every_batch),
      cmocka_unit_test(test_writer__failure_reaches_the_reader),
      cmocka_unit_test(test_writer__free_without_finish),
  };
  return cmocka_run_group_tests_name("ingest", tests, NULL, NULL);
}
